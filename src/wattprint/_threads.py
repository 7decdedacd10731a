"""wattprint's own background threads, started with the stop signals blocked.

A signal sent to a process is handed by the kernel to *one* of its threads
that does not block it. Python runs its signal handlers (SIGTERM's stop,
SIGINT's ``KeyboardInterrupt``) only in the main thread, and only when that
thread next runs bytecode: if the kernel picks one of our threads while the
main thread waits in C (``time.sleep``, a ``join``, a socket read), the
handler waits for that call to return — seconds, or the rest of the job. So
every thread wattprint starts blocks SIGINT, SIGTERM and SIGHUP: the kernel
then hands them to the program's own threads, the main thread among them,
whose wait the signal interrupts as it would without wattprint.

The mask is set in the starting thread around ``start()`` (a new thread
inherits its creator's mask), so there is no moment when the new thread can
take a signal; a signal arriving meanwhile stays pending and is handled as
soon as the starting thread restores its mask.
"""

from __future__ import annotations

import threading

TYPE_CHECKING = False  # not from typing: on the tracker's start path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def start_thread(target: Callable[..., Any], name: str, args: tuple[Any, ...] = ()) -> threading.Thread:
    """Start ``target(*args)`` on a daemon thread that never receives SIGINT/SIGTERM/SIGHUP."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    import signal  # already loaded by any program that tracks (endings.py arms its handler)

    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:  # Windows: no per-thread masks, and no such delivery problem either
        thread.start()
        return thread
    stops = {getattr(signal, s) for s in _STOP_SIGNALS if hasattr(signal, s)}
    old = mask(signal.SIG_BLOCK, stops)
    try:
        thread.start()
    finally:
        mask(signal.SIG_SETMASK, old)
    return thread
