"""SIGTERM/SIGINT/SIGHUP at random moments: the process always ends, the run is always stored.

The library program spends nearly all its time inside the sampler's lock
(reading counters for windows and ``current()``), with and without threads
doing the same, which is where a handler that blocks would deadlock it.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faultkit import TIMEOUT_S, python, stored_energy, stored_runs, wait_until, wattprint_popen

from fake_rapl import make_tree
from wattprint.tracking.tracker import UNGUARDED

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
TRIALS = 15
BATCH = 5  # trials run side by side, each with its own database

PROGRAM = """
import signal, sys, threading, wattprint
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
rapl, db, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
done = threading.Event()
kw = dict(rapl_root=rapl, store=db, gpus="none", country="FR", interval=0.02)
if threads < 0:  # short runs back to back: signals land in start() and stop() too
    while True:
        with wattprint.track("short", **kw) as run:
            run.current()
        if threads == -1:
            print("ready", flush=True)
            threads = -2
with wattprint.track("sig", **kw) as run:
    def spin():
        while not done.is_set():
            with run.window("thread"):
                run.current()
    for _ in range(threads):
        threading.Thread(target=spin, daemon=True).start()
    print("ready", flush=True)
    try:
        i = 0
        while True:
            i += 1
            if i % 50 == 0:
                with run.window("outer"):
                    with run.window("inner"):
                        pass
            else:
                run.current()
    finally:
        done.set()
"""


def _signal_after_ready(p: subprocess.Popen[str], signum: int, delay: float) -> float:
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line == "ready\n", p.communicate(timeout=TIMEOUT_S)[1]
    t0 = time.monotonic()
    time.sleep(delay)
    p.send_signal(signum)
    return time.monotonic() - t0


def _finish(p: subprocess.Popen[str]) -> None:
    try:
        p.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate(timeout=TIMEOUT_S)
        pytest.fail("the process hung after the signal (killed with SIGKILL)")


def _assert_stored(db: Path, at_least_s: float, short_runs: bool = False) -> None:
    runs = stored_runs(db)
    if short_runs:  # every run ended and stored (runs started while the process was dying included)
        assert runs and all(r["status"] in ("finished", "interrupted") for r in runs), [r["status"] for r in runs]
        return
    assert len(runs) == 1
    run = runs[0]
    assert run["status"] == "interrupted", run["status"]
    assert run["duration_s"] >= at_least_s * 0.9
    assert run["energy_j"] >= 0 and run["emissions_g"] is not None


def test_library_run_always_ends_and_is_stored(tmp_path: Path) -> None:
    rng = random.Random()
    rapl = make_tree(tmp_path / "pc")
    # threads: 0 or 2 spinning beside the main thread, or -1 for short runs back to back
    trials = [(i, SIGNALS[i % 3], (0, 2, -1)[i // 3 % 3], rng.uniform(0.05, 0.5)) for i in range(TRIALS)]
    for start in range(0, TRIALS, BATCH):
        batch = trials[start : start + BATCH]
        procs = [python(PROGRAM, str(rapl), str(tmp_path / f"{i}.db"), str(threads))
                 for i, _, threads, _ in batch]
        waited = []
        for p, (_, signum, _, delay) in zip(procs, batch):
            waited.append(_signal_after_ready(p, signum, delay))
        for p in procs:
            _finish(p)
        for (i, signum, threads, _), p, at_least in zip(batch, procs, waited):
            assert p.returncode != 0, f"trial {i}: {signum!r} threads={threads}"
            _assert_stored(tmp_path / f"{i}.db", at_least, short_runs=threads < 0)


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_cli_run_always_ends_and_is_stored(tmp_path: Path, signum: int) -> None:
    rapl = make_tree(tmp_path / "pc")
    db = tmp_path / "cli.db"
    child = "import time; print('ready', flush=True); time.sleep(30)"
    p = wattprint_popen("run", "--db", str(db), "--rapl-root", str(rapl), "--country", "FR",
                        "--interval", "0.02", "--", sys.executable, "-c", child,
                        stdin=subprocess.DEVNULL)
    waited = _signal_after_ready(p, signum, random.uniform(0.05, 0.5))
    _finish(p)
    assert p.returncode != 0
    _assert_stored(db, waited)


WORKER_PROGRAM = """
import sys, threading, warnings, wattprint
rapl, db, guarded = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if guarded:
    wattprint.handle_signals()
started = threading.Event()
def work():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracker = wattprint.Tracker("worker", rapl_root=rapl, store=db, gpus="none", country="FR",
                                    interval=0.02)
        tracker.start()
    print("warned" if any("handle_signals" in str(w.message) for w in caught) else "quiet", flush=True)
    started.set()
    threading.Event().wait()  # works until the scheduler stops it
threading.Thread(target=work, daemon=True).start()
started.wait()
print("ready", flush=True)
threading.Event().wait()
"""


@pytest.mark.parametrize("guarded", [True, False], ids=["handle_signals", "unguarded"])
def test_a_run_started_in_a_worker_thread(tmp_path: Path, guarded: bool) -> None:
    """Python installs signal handlers only from the main thread. With
    ``wattprint.handle_signals()`` called there, SIGTERM stores a run a worker thread started;
    without it, the user is told at start (the run cannot be saved by a SIGTERM)."""
    rapl = make_tree(tmp_path / "pc")
    db = tmp_path / "w.db"
    p = python(WORKER_PROGRAM, str(rapl), str(db), "1" if guarded else "0")
    assert p.stdout is not None
    said = p.stdout.readline().strip()
    if not guarded:  # the header written at start is all that will be stored: it must be there first
        wait_until(lambda: bool(stored_energy(db)), "the run's header")
    _signal_after_ready(p, signal.SIGTERM, 0.2)
    _finish(p)
    assert p.returncode == -signal.SIGTERM, p.returncode  # the process still dies of the signal
    if guarded:
        assert said == "quiet"
        (run,) = stored_runs(db)
        assert run["status"] == "interrupted" and run["duration_s"] >= 0.15
        assert not [f for f in run["faults"] if f["source"] == "signals"]
    else:
        assert said == "warned"
        # the header written at start is all there is, with the warning in it
        (run,) = stored_runs(db)
        assert run["status"] in ("killed", "running"), run["status"]
        assert [f["message"] for f in run["faults"] if f["source"] == "signals"] == [UNGUARDED]


SLEEPER = """
import sys, time, wattprint
t = wattprint.Tracker("sleeper", rapl_root=sys.argv[1], store=sys.argv[2], gpus="none", country="FR")
t.start()
print("ready", flush=True)
{body}
"""


def _stopped_by_sigterm(tmp_path: Path, name: str, body: str, delay: float) -> None:
    rapl = make_tree(tmp_path / "pc")
    db = tmp_path / f"{name}.db"
    p = python(SLEEPER.format(body=body), str(rapl), str(db))
    _signal_after_ready(p, signal.SIGTERM, delay)
    _finish(p)
    assert p.returncode == -signal.SIGTERM, p.returncode
    (run,) = stored_runs(db)
    assert run["status"] == "interrupted", run["status"]


def test_sigterm_while_the_main_thread_is_in_a_long_call_into_c(tmp_path: Path) -> None:
    """Python runs a signal handler only when the main thread next runs bytecode; a long call
    that lets other threads run meanwhile (here PBKDF2 with 10^9 rounds, some twenty minutes;
    a BLAS or GPU call in a training step) held it off until the call returned. The stop
    starts from the byte Python's C-level handler writes at once."""
    _stopped_by_sigterm(tmp_path, "c", "import hashlib\nhashlib.pbkdf2_hmac('sha256', b'p', b's', 10**9)", 0.2)


def test_sigterm_just_as_the_program_goes_to_sleep(tmp_path: Path) -> None:
    """A signal that lands between the main thread's last check and its ``sleep`` waited out
    the sleep (CI's Python 3.10 pass hung on it; 7 of about 150 tries here before the fix)."""
    for batch in range(4):
        procs = [(python(SLEEPER.format(body="time.sleep(120)"), str(make_tree(tmp_path / f"pc{batch}{i}")),
                         str(tmp_path / f"{batch}-{i}.db")), tmp_path / f"{batch}-{i}.db") for i in range(5)]
        for p, _ in procs:
            _signal_after_ready(p, signal.SIGTERM, 0.0)
        for p, db in procs:
            _finish(p)
            assert p.returncode == -signal.SIGTERM, p.returncode
            assert [r["status"] for r in stored_runs(db)] == ["interrupted"]


FORKER = """
import os, signal, sys, time, wattprint
with wattprint.track("parent", rapl_root=sys.argv[1], store=sys.argv[2], gpus="none", country="FR") as run:
    pid = os.fork()
    if pid == 0:  # a worker with its own SIGTERM handler, stopped by its parent
        signal.signal(signal.SIGTERM, lambda *a: os._exit(7))
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    time.sleep(1.0)  # long enough for a stray wake-up to have stopped this process
print("alive", os.waitstatus_to_exitcode(status), flush=True)
"""


def test_a_signal_to_a_forked_child_does_not_stop_the_parent(tmp_path: Path) -> None:
    """The child inherits the stopper's pipe as Python's wakeup fd; it must let go of it, or a
    SIGTERM to the child would wake the parent's stopper and end the parent."""
    rapl = make_tree(tmp_path / "pc")
    db = tmp_path / "f.db"
    p = python(FORKER, str(rapl), str(db))
    out, err = p.communicate(timeout=TIMEOUT_S)
    assert (p.returncode, out) == (0, "alive 7\n"), err
    assert [r["status"] for r in stored_runs(db)] == ["finished"]


ASYNCIO = """
import asyncio, signal, sys, wattprint
async def main():
    loop = asyncio.get_running_loop()
    with wattprint.track("aio", rapl_root=sys.argv[1], store=sys.argv[2], gpus="none", country="FR"):
        loop.add_signal_handler(signal.SIGUSR1, print, "usr1")  # asyncio takes the wakeup fd
        print("ready", flush=True)
        await asyncio.sleep(120)
asyncio.run(main())
"""


def test_sigterm_to_an_asyncio_program_that_owns_the_wakeup_fd(tmp_path: Path) -> None:
    rapl = make_tree(tmp_path / "pc")
    db = tmp_path / "a.db"
    p = python(ASYNCIO, str(rapl), str(db))
    _signal_after_ready(p, signal.SIGTERM, 0.1)
    _finish(p)
    assert p.returncode == -signal.SIGTERM, p.returncode
    assert [r["status"] for r in stored_runs(db)] == ["interrupted"]


def _wakeup_fd_now() -> int:
    fd = signal.set_wakeup_fd(-1)
    if fd != -1:
        signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    return fd


def test_the_wakeup_fd_is_held_only_while_runs_are_open_and_never_taken_from_another(tmp_path: Path) -> None:
    import socket

    import wattprint

    kw = dict(rapl_root=str(make_tree(tmp_path / "pc")), store=str(tmp_path / "w.db"), gpus="none", country="FR")
    assert _wakeup_fd_now() == -1
    with wattprint.track("mine", **kw):  # type: ignore[arg-type]
        assert _wakeup_fd_now() != -1
    assert _wakeup_fd_now() == -1
    a, b = socket.socketpair()
    try:
        a.setblocking(False)
        signal.set_wakeup_fd(a.fileno())
        with wattprint.track("theirs", **kw):  # type: ignore[arg-type]
            assert _wakeup_fd_now() == a.fileno()
        assert _wakeup_fd_now() == a.fileno()
    finally:
        signal.set_wakeup_fd(-1)
        a.close()
        b.close()
