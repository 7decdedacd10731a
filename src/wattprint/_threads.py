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

Each thread sets the mask as its first act. (Setting it in the starting thread
around ``start()``, so the new thread inherits it, would close a window of a
few microseconds but open a worse one: a signal arriving meanwhile would stay
pending and be handled in the caller exactly between the thread's start and
the caller keeping hold of it.)
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


def _blocking_stop_signals(target: Callable[..., Any], args: tuple[Any, ...]) -> None:
    import signal  # already loaded by any program that tracks (endings.py arms its handler)

    mask = getattr(signal, "pthread_sigmask", None)
    if mask is not None:  # Windows has no per-thread masks, and no such delivery problem either
        mask(signal.SIG_BLOCK, {getattr(signal, s) for s in _STOP_SIGNALS if hasattr(signal, s)})
    target(*args)


def new_thread(target: Callable[..., Any], name: str, args: tuple[Any, ...] = ()) -> threading.Thread:
    """A daemon thread (not started) that runs ``target(*args)`` and never receives SIGTERM/SIGHUP.

    Not started, so the caller keeps hold of it before ``start()``: ``start()`` waits for
    the thread to run, and a ``KeyboardInterrupt`` there must not leave a running thread
    its owner never heard of (the store's writer, say, whose final write would be skipped).
    """
    return threading.Thread(target=_blocking_stop_signals, args=(target, args), name=name, daemon=True)
