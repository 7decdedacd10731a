"""Keep ``fork()`` from landing while one of wattprint's threads is inside a database call.

A forked child inherits every lock of the parent *as it was*, but only the thread
that forked. If the store writer thread is inside SQLite (or libpq) at that
moment, a mutex that library holds (SQLite's allocator and open mutexes are
process-wide) stays locked in the child forever, and the child's own first
database call hangs: a run the child starts is then never stored (seen under
load in the fork fault test, 3 of 25 tries). So the writer threads enter
:func:`database_call` around every open, write and close, and a ``before``
fork hook waits (at most :data:`FORK_WAIT_S`) until none is inside; the child
starts with a fresh gate, as the parent's writer threads do not exist there.
A fork that waited the whole bound goes ahead anyway: a program's fork is never
held up for long by wattprint.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

FORK_WAIT_S = 2.0  # the longest a fork waits for a database call under way to return


class _Gate:
    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.inside = 0  # database calls under way
        self.forking = False

    def before_fork(self) -> None:
        with self.cond:
            self.forking = True
            self.cond.wait_for(lambda: self.inside == 0, timeout=FORK_WAIT_S)

    def after_fork_in_parent(self) -> None:
        with self.cond:
            self.forking = False
            self.cond.notify_all()


_gate = _Gate()


@contextmanager
def database_call() -> Iterator[None]:
    """Around a background thread's database work: a fork waits for it to return, and it
    waits for a fork in progress (a few microseconds) before it starts."""
    gate = _gate
    with gate.cond:
        gate.cond.wait_for(lambda: not gate.forking, timeout=FORK_WAIT_S)
        gate.inside += 1
    try:
        yield
    finally:
        with gate.cond:
            gate.inside -= 1
            gate.cond.notify_all()


def _before() -> None:
    _gate.before_fork()


def _after_in_parent() -> None:
    _gate.after_fork_in_parent()


def _after_in_child() -> None:
    global _gate
    _gate = _Gate()  # the parent's writer threads are not here; its condition's lock may be held


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child)
