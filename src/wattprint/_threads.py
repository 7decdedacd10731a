"""wattprint's own background threads, started with the stop signals blocked.

A signal sent to a process is handed by the kernel to *one* of its threads
that does not block it. Python runs its signal handlers (SIGTERM's stop,
SIGINT's ``KeyboardInterrupt``) only in the main thread, and only when that
thread next runs bytecode: if the kernel picks one of our threads while the
main thread waits in C (``time.sleep``, a ``join``, a socket read), the
handler waits for that call to return — seconds, or the rest of the job. So
every thread wattprint starts blocks SIGTERM and SIGHUP (whose handler,
wattprint's own, only wakes a thread): the kernel then hands them to the
program's own threads, the main thread among them, whose wait the signal
interrupts. SIGINT is left as Python has it (see ``_STOP_SIGNALS``).

The starting thread blocks them around ``start()``, so the new thread is
born with the mask (POSIX threads inherit it) and is never, even for a moment,
a thread the kernel may pick. (Setting the mask as the new thread's first act
left a window: ``start()`` returns once the thread is running, before it has
taken the GIL to reach that act.) A stop signal that arrives while the starting
thread has it blocked stays pending and is delivered the moment the mask is put
back, so it is late by the length of a ``start()``, never lost. Even so the
main thread may run the handler late; :mod:`wattprint.tracking.endings` does
not depend on it.
"""

from __future__ import annotations

import threading

TYPE_CHECKING = False  # not from typing: on the tracker's start path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Not SIGINT: its KeyboardInterrupt must keep landing where Python puts it today. Steered to the
# main thread, it interrupts the C waits inside a run's stop (the store's final write) and loses
# the run; the fault tests caught this (3 of 30 back-to-back runs read back "killed").
_STOP_SIGNALS = ("SIGTERM", "SIGHUP")


def _stop_signals() -> tuple[Any, set[int]]:
    import signal  # already loaded by any program that tracks (endings.py arms its handler)

    return signal, {getattr(signal, s) for s in _STOP_SIGNALS if hasattr(signal, s)}


class _QuietThread(threading.Thread):
    """A thread started with SIGTERM/SIGHUP blocked in the starting thread, so it inherits them blocked."""

    def start(self) -> None:
        signal, stops = _stop_signals()
        mask = getattr(signal, "pthread_sigmask", None)
        if mask is None:  # Windows has no per-thread masks, and no such delivery problem either
            super().start()
            return
        before = mask(signal.SIG_BLOCK, stops)
        try:
            super().start()
        finally:
            mask(signal.SIG_SETMASK, before)


def new_thread(target: Callable[..., Any], name: str, args: tuple[Any, ...] = ()) -> threading.Thread:
    """A daemon thread (not started) that runs ``target(*args)`` and never receives SIGTERM/SIGHUP.

    Not started, so the caller keeps hold of it before ``start()``: ``start()`` waits for
    the thread to run, and a ``KeyboardInterrupt`` there must not leave a running thread
    its owner never heard of (the store's writer, say, whose final write would be skipped).
    """
    return _QuietThread(target=target, args=args, name=name, daemon=True)
