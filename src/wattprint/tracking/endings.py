"""How open runs end when the program does not end them: exit, SIGTERM/SIGHUP, fork.

* **Interpreter exit** (an uncaught exception, ``sys.exit``, falling off the end):
  the ``atexit`` hook stops every open run as ``interrupted`` and stores it.
* **SIGTERM and SIGHUP** (Slurm, Kubernetes, systemd, a closed terminal): while
  runs are open, and only where the program left the default action in place,
  a handler is installed. A handler runs in the main thread *between two
  bytecodes*, possibly while that thread holds the sampler's lock or is in the
  middle of a database write, so it does nothing that can block: it puts the
  default action back (a second signal ends the process at once) and releases
  a lock that a waiting thread sleeps on. That thread stops and stores the open
  runs (bounded by :data:`STOP_TIMEOUT_S`), then sends the same signal again, so
  the process dies of it as if wattprint were not there. A run counts as open
  from the moment it exists until it is written (so a signal during a start or
  a stop waits for it rather than killing the process half-way). SIGINT keeps
  Python's own ``KeyboardInterrupt``, which ``with track(...)`` records as
  ``interrupted``; one that lands inside ``stop()`` still leaves the run written.
* **fork()**: the child gets a copy of every open run. That copy is *detached*
  in the child: it never writes to the store, stopping it (or leaving the
  ``with`` block, or the child's exit) does nothing to the parent's run, and the
  exit hook has nothing to do. See :meth:`wattprint.tracking.tracker.Tracker.stop`.
"""

from __future__ import annotations

import os
import threading

from wattprint._threads import new_thread

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from typing import Any, Protocol

    class _Stoppable(Protocol):
        def stop(self, *, status: str | None = None, exit_code: int | None = None) -> Any: ...

        def _detach(self) -> None: ...

        def _stop_urgently(self, status: str) -> None: ...


STOP_TIMEOUT_S = 10.0  # longest a signal waits for the runs to be stored before the process dies

_active: set[_Stoppable] = set()


def stop_all(status: str = "interrupted", *, urgent: bool = False) -> None:
    """Stop and store every open run (best effort: this is an exit path).

    ``urgent`` (after a signal): the program's other threads may be reading
    counters in a tight loop, and CPython's locks are not fair, so their reads
    wait while the stop takes the sampler (see ``Sampler.hold_readers``).
    """
    for t in list(_active):
        try:
            if urgent:
                t._stop_urgently(status)
            else:
                t.stop(status=status)
        except Exception:  # noqa: S110 - exit path, best effort
            pass


def _stop_all_urgently() -> None:
    stop_all(urgent=True)


class _Stopper:
    """The thread a signal wakes; it does the stopping the handler must not do."""

    def __init__(self) -> None:
        self._wake = threading.Lock()
        self._wake.acquire()
        self.signum = 0
        self.thread: threading.Thread | None = None

    def ensure_thread(self) -> None:
        if self.thread is None:
            self.thread = new_thread(self._run, "wattprint-signals")
            self.thread.start()

    def wake(self, signum: int) -> None:
        """Called from the signal handler: one C call, never blocks."""
        self.signum = signum
        try:
            self._wake.release()
        except RuntimeError:  # already released: the stop is under way
            pass

    def _run(self) -> None:
        while True:  # again if a new run re-armed the handler before the process ended
            self._wake.acquire()
            worker = new_thread(_stop_all_urgently, "wattprint-stop")
            worker.start()
            worker.join(STOP_TIMEOUT_S)
            os.kill(os.getpid(), self.signum)  # the default action is back: the process ends of it


_stopper = _Stopper()
_signal: Any = None  # the signal module, imported on first use (it costs ``enum`` at import)


def _on_signal(signum: int, frame: object) -> None:
    """SIGTERM/SIGHUP with runs open: hand the stop to the stopper thread (see the module doc)."""
    try:
        _signal.signal(signum, _signal.SIG_DFL)
    except (ValueError, OSError):  # pragma: no cover - we are in the main thread
        pass
    _stopper.wake(signum)


def _arm(on: bool) -> None:
    """Install our handler while runs are open, only over the default action.

    Only from the main thread (Python's rule) and never over a handler the host
    program set itself.
    """
    global _signal
    if threading.current_thread() is not threading.main_thread():
        return
    if _signal is None:
        import signal

        _signal = signal
    sig_dfl = _signal.SIG_DFL
    try:
        for name in ("SIGTERM", "SIGHUP"):
            sig = getattr(_signal, name, None)
            if sig is None:
                continue
            current = _signal.getsignal(sig)
            if on and current is sig_dfl:
                _stopper.ensure_thread()
                _signal.signal(sig, _on_signal)
            elif not on and current is _on_signal:
                _signal.signal(sig, sig_dfl)
    except (ValueError, OSError):  # embedded interpreters without signals
        pass


def opened(tracker: _Stoppable) -> None:
    """A run started: end it at exit or on a signal if the program does not."""
    _active.add(tracker)
    _arm(True)


def closed(tracker: _Stoppable) -> None:
    """A run was stopped: nothing left to do for it at exit."""
    _active.discard(tracker)
    if not _active:
        _arm(False)


def _after_fork_in_child() -> None:
    global _stopper
    had_runs = bool(_active)
    for t in list(_active):
        t._detach()
    _active.clear()
    _stopper = _Stopper()  # the parent's stopper thread does not exist here
    if had_runs:
        _arm(False)


import atexit  # noqa: E402

atexit.register(stop_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
