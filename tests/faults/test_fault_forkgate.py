"""fork() waits for a store writer that is inside a database call (and never for long), so the
child never inherits a database library's mutex locked by a thread it does not have."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from wattprint import _forkgate


def _reap(pid: int, timeout_s: float = 30.0) -> int:
    """The child's exit code; a child still alive after ``timeout_s`` is killed and fails the test."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child hung for {timeout_s:.0f} s")


def _fork_and_report(flag: dict[str, bool]) -> tuple[int, float]:
    """Fork; the child exits 0 if the flag it inherited says the writer had left. Returns the
    child's exit code and how long the fork call took in the parent."""
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(0 if flag["left"] else 1)
    took = time.monotonic() - t0
    return _reap(pid), took


def _writer(flag: dict[str, bool], inside: threading.Event, hold_s: float) -> threading.Thread:
    def work() -> None:
        with _forkgate.database_call():
            inside.set()
            time.sleep(hold_s)
            flag["left"] = True

    th = threading.Thread(target=work, daemon=True)
    th.start()
    assert inside.wait(10)
    return th


def test_fork_waits_for_a_database_call_under_way() -> None:
    flag, inside = {"left": False}, threading.Event()
    th = _writer(flag, inside, 0.3)
    code, took = _fork_and_report(flag)
    th.join(10)
    assert code == 0  # the child was forked only after the writer left its call
    assert took >= 0.1


def test_fork_goes_ahead_after_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_forkgate, "FORK_WAIT_S", 0.2)
    flag, inside = {"left": False}, threading.Event()
    th = _writer(flag, inside, 3.0)
    code, took = _fork_and_report(flag)
    assert code == 1  # the writer was still inside: the fork did not wait for it
    assert took < 2.5  # bounded by FORK_WAIT_S, not by the 3 s call
    th.join(10)


def test_the_child_starts_with_a_free_gate() -> None:
    flag, inside = {"left": False}, threading.Event()
    th = _writer(flag, inside, 0.2)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: a database call must not wait on the parent's
        t0 = time.monotonic()
        with _forkgate.database_call():
            pass
        os._exit(0 if time.monotonic() - t0 < 0.1 else 1)
    code = _reap(pid)
    th.join(10)
    assert code == 0
