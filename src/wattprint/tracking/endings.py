"""How open runs end when the program does not end them: exit, SIGTERM/SIGHUP, fork.

* **Interpreter exit** (an uncaught exception, ``sys.exit``, falling off the end):
  the ``atexit`` hook stops every open run as ``interrupted`` and stores it.
* **SIGTERM and SIGHUP** (Slurm, Kubernetes, systemd, a closed terminal): while
  runs are open, and only where the program left the default action in place, a
  handler is installed. Python runs a handler in the main thread *between two
  bytecodes*, so it may come late: after a long call into C that lets other
  threads run (a BLAS or GPU op in a training step) or, when the signal lands
  just before the main thread goes to sleep, after the whole sleep. So the
  handler is not what starts the stop. (A C call that keeps the GIL, a pure-C
  loop, holds up every thread, ours too: that stop waits for the call.) While
  our handler is installed, Python's wakeup fd (the byte its C-level handler
  writes at once, from whichever thread took the signal) is a pipe that a
  waiting thread, the stopper, reads. The stopper puts the default action back
  (a second signal ends the process at once), stops and stores the open runs
  (bounded by :data:`STOP_TIMEOUT_S`), then sends the same signal again, so the
  process dies of it as if wattprint were not there. The Python-level handler,
  when it runs, only writes the same byte (the path that remains when another
  library, asyncio say, owns the wakeup fd). A run counts as open from the
  moment it exists until it is written (so a signal during a start or a stop
  waits for it rather than killing the process half-way). SIGINT keeps Python's
  own ``KeyboardInterrupt``, which ``with track(...)`` records as
  ``interrupted``; one that lands inside ``stop()`` still leaves the run
  written.
* **fork()**: the child gets a copy of every open run. That copy is *detached*
  in the child: it never writes to the store, stopping it (or leaving the
  ``with`` block, or the child's exit) does nothing to the parent's run, and the
  exit hook has nothing to do. See :meth:`wattprint.tracking.tracker.Tracker.stop`.
"""

from __future__ import annotations

import os
import threading
import time

from wattprint._threads import new_thread

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from typing import Any, Protocol

    class _Stoppable(Protocol):
        def stop(self, *, status: str | None = None, exit_code: int | None = None) -> Any: ...

        def _detach(self) -> None: ...

        def _stop_urgently(self, status: str) -> None: ...


STOP_TIMEOUT_S = 10.0  # longest a signal waits for the runs to be stored before the process dies
OUTLIVED_S = 1.0  # after the stopper's own signal: a process still alive then has a handler of its own

_active: set[_Stoppable] = set()
_gate = threading.Lock()  # a run joins _active, or a stop signal closes the door: one or the other first


def stop_all(status: str = "interrupted") -> None:
    """Stop and store every open run (the exit hook; best effort: this is an exit path)."""
    for t in list(_active):
        try:
            t.stop(status=status)
        except Exception:  # noqa: S110 - exit path, best effort
            pass


def _stop_all_urgently() -> None:
    """After a stop signal: stop every open run, then any that joined while those were being
    stopped (it passed the door just before the stopper closed it), each once.

    Urgently: the program's other threads may be reading counters in a tight loop, and
    CPython's locks are not fair, so their reads wait while the stop takes the sampler
    (see ``Sampler.hold_readers``)."""
    tried: set[_Stoppable] = set()
    while True:
        todo = [t for t in list(_active) if t not in tried]
        if not todo:
            return
        tried.update(todo)
        for t in todo:
            try:
                t._stop_urgently("interrupted")
            except Exception:  # noqa: S110 - exit path, best effort
                pass


class _Stopper:
    """The thread a stop signal wakes, through a pipe; it does the stopping a handler must not do."""

    def __init__(self) -> None:
        self.read_fd = -1
        self.write_fd = -1  # non-blocking: Python's C-level handler and ours write one byte per signal
        self.fired: set[int] = set()  # signals whose Python-level handler has run (default action back)
        self.thread: threading.Thread | None = None
        # Cleared from a stop signal until the process is gone (or outlived it): a run that
        # starts then waits (see opened()), as it would only be written half before the end.
        self.alive = threading.Event()
        self.alive.set()

    def ensure_thread(self) -> None:
        if self.thread is None:
            self.read_fd, self.write_fd = os.pipe()
            os.set_blocking(self.write_fd, False)
            self.thread = new_thread(self._run, "wattprint-signals")
            self.thread.start()

    def wake(self, signum: int) -> None:
        """Called from the Python-level handler: one non-blocking write, never blocks."""
        self.fired.add(signum)
        try:
            os.write(self.write_fd, bytes((signum,)))
        except OSError:  # a full pipe already holds bytes that wake the stopper
            pass

    def _next_stop(self) -> int:
        """The next signal byte that is a stop signal handled by us (the pipe also carries
        every other signal that has a Python-level handler, SIGINT among them)."""
        while True:
            for signum in os.read(self.read_fd, 256):
                if signum in self.fired or _is_ours(signum):
                    return signum

    def _run(self) -> None:
        while True:  # again if the process outlived the signal (a handler set in between)
            signum = self._next_stop()
            _default_action(signum)  # a second signal now ends the process at once
            with _gate:
                self.alive.clear()  # from here no run starts: the ones open are stopped and stored
            worker = new_thread(_stop_all_urgently, "wattprint-stop")
            worker.start()
            worker.join(STOP_TIMEOUT_S)
            os.kill(os.getpid(), signum)  # the default action is back: the process ends of it
            time.sleep(OUTLIVED_S)  # (it ends before this returns, unless a handler was set meanwhile)
            self.fired.clear()
            self.alive.set()


_stopper = _Stopper()
_signal: Any = None  # the signal module, imported on first use (it costs ``enum`` at import)


def _on_signal(signum: int, frame: object) -> None:
    """SIGTERM/SIGHUP's Python-level handler: put the default action back and wake the stopper
    (which the C-level handler has usually woken already; see the module doc)."""
    try:
        _signal.signal(signum, _signal.SIG_DFL)
    except (ValueError, OSError):  # pragma: no cover - we are in the main thread
        pass
    _stopper.wake(signum)


def _is_ours(signum: int) -> bool:
    """Whether ``signum``'s handler is ours (``getsignal`` may be asked from any thread)."""
    try:
        return _signals().getsignal(signum) is _on_signal
    except (ValueError, OSError):
        return False


def _default_action(signum: int) -> None:
    """Put ``signum``'s default action back from the stopper thread.

    Python's ``signal.signal`` works only in the main thread, which may not have run our
    handler yet (it is in C, or asleep), so this goes to libc directly. Without ctypes the
    signal sent after the stop reaches our handler once the main thread runs Python again:
    the handler puts the default back and the stopper's next signal ends the process.
    """
    if signum in _stopper.fired:
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.signal.restype = ctypes.c_void_p
        libc.signal.argtypes = (ctypes.c_int, ctypes.c_void_p)
        libc.signal(signum, None)  # SIG_DFL is the null pointer
    except (ImportError, OSError, AttributeError):  # pragma: no cover - no ctypes or no libc here
        pass


def _signals() -> Any:
    global _signal
    if _signal is None:
        import signal

        _signal = signal
    return _signal


def _covered() -> bool:
    """Whether a SIGTERM now reaches a handler (ours, or the program's own) rather than
    killing the process outright. ``getsignal`` may be asked from any thread."""
    sig = _signals()
    try:
        return sig.getsignal(sig.SIGTERM) not in (sig.SIG_DFL, None)
    except (ValueError, OSError, AttributeError):  # no signals here: nothing can be done
        return True


def _arm(on: bool) -> bool:
    """Install our handler while runs are open, only over the default action; returns
    :func:`_covered`.

    Only from the main thread (Python's rule) and never over a handler the host
    program set itself; once :func:`handle_signals` has installed it, it stays.
    """
    if threading.current_thread() is not threading.main_thread():
        return _covered()
    sig = _signals()
    try:
        for name in ("SIGTERM", "SIGHUP"):
            signum = getattr(sig, name, None)
            if signum is None:
                continue
            current = sig.getsignal(signum)
            if on and current is sig.SIG_DFL:
                _stopper.ensure_thread()
                sig.signal(signum, _on_signal)
            elif not on and current is _on_signal and not _persistent:
                sig.signal(signum, sig.SIG_DFL)
        _wakeup_fd(any(_is_ours(getattr(sig, n)) for n in ("SIGTERM", "SIGHUP") if hasattr(sig, n)))
    except (ValueError, OSError):  # embedded interpreters without signals
        pass
    return _covered()


def _wakeup_fd(claim: bool) -> None:
    """Make the stopper's pipe Python's wakeup fd while our handler is installed (main thread only).

    There is one wakeup fd per process. One that another library set (asyncio's event loop
    sets one for its own signal handlers) is left in place, and so is one set over ours
    later: the Python-level handler still wakes the stopper, only later.
    """
    sig = _signals()
    if _stopper.write_fd < 0:
        return
    if claim:
        before = sig.set_wakeup_fd(_stopper.write_fd, warn_on_full_buffer=False)
        if before not in (-1, _stopper.write_fd):
            sig.set_wakeup_fd(before)
    else:
        before = sig.set_wakeup_fd(-1)
        if before not in (-1, _stopper.write_fd):
            sig.set_wakeup_fd(before)


_persistent = False


def handle_signals() -> None:
    """Install wattprint's SIGTERM/SIGHUP handler now, for the life of the program.

    Python lets only the main thread install a signal handler, so a run started
    in another thread (a worker, a callback thread, a web server's handler) cannot
    arrange to be stored when a scheduler sends SIGTERM. Call this once from the
    main thread at start-up: a signal then stops and stores every open run before
    the process dies of it, exactly as it does for runs started in the main thread.
    A handler the program installed itself is left alone (and then the program's
    own handler decides; its ``sys.exit`` still stores the runs through ``atexit``).
    """
    global _persistent
    if threading.current_thread() is not threading.main_thread():
        from wattprint.errors import WattprintError

        raise WattprintError("handle_signals() must be called from the main thread (Python's rule for signals)")
    _persistent = True
    _arm(True)


def opened(tracker: _Stoppable) -> bool:
    """A run started: end it at exit or on a signal if the program does not. Returns whether
    a SIGTERM will reach a handler (False: started off the main thread, with no handler set).

    While a stop signal is ending the process, this waits (bounded) instead: the run would
    be written as running and never finished (the stop has taken the open runs already).
    """
    while True:
        with _gate:
            if _stopper.alive.is_set():
                _active.add(tracker)
                break
        if not _stopper.alive.wait(STOP_TIMEOUT_S + OUTLIVED_S + 1.0):  # the process ends meanwhile
            with _gate:  # it did not: never wait for ever
                _active.add(tracker)
            break
    return _arm(True)


def closed(tracker: _Stoppable) -> None:
    """A run was stopped: nothing left to do for it at exit."""
    _active.discard(tracker)
    if not _active:
        _arm(False)


def _after_fork_in_child() -> None:
    global _stopper, _persistent, _gate
    _gate = threading.Lock()  # another thread may have held it at the fork
    had_runs = bool(_active)
    for t in list(_active):
        t._detach()
    _active.clear()
    parent, _stopper = _stopper, _Stopper()  # the parent's stopper thread does not exist here
    if parent.write_fd >= 0:  # a signal to the child must not write into the parent's pipe
        try:
            sig = _signals()
            before = sig.set_wakeup_fd(-1)
            if before != parent.write_fd:
                sig.set_wakeup_fd(before)
        except (ValueError, OSError):  # pragma: no cover - forked from a thread that is not main
            pass
        for fd in (parent.read_fd, parent.write_fd):
            try:
                os.close(fd)
            except OSError:  # pragma: no cover
                pass
    if had_runs or _persistent:  # the child is another program: its own runs arm it again
        _persistent = False
        _arm(False)


import atexit  # noqa: E402

atexit.register(stop_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
