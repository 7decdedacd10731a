"""Slurm's warning signal (``--signal=USR1@T``): the run is flushed and marked, and measured on.

Real processes, real signals (``os.kill``, as slurmd sends them), one fake powercap tree; the real
cluster's ``scancel --signal=USR1 --batch`` is in test_job_slurm.py. The tracked program flushes
only once an hour, so a stored mark before the end can only come from the signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from job_machines import RANKS, apply_bump, build, env, python, single_tracker_total
from wattprint.store.sqlite import SqliteStore


def wait_until(what: str, check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (got := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.02)
    return got


def stored(db: Path) -> list[Any]:
    if not db.exists():
        return []
    return [h for h in SqliteStore.open(db).list_runs() if h["job"] and h["job"].get("rank") is not None]


class Job:
    """rank_warned.py as one Slurm batch job (SLURM_JOB_ID set, no step)."""

    def __init__(self, tmp_path: Path, *args: str, **more: str) -> None:
        self.nodes, self.db = build(tmp_path / "nodes", 1), tmp_path / "db.sqlite"
        e = env(SLURM_JOB_ID="5150", **more) if "SLURM_JOB_ID" not in more else env(**more)
        if not more.get("SLURM_JOB_ID", "x"):
            e.pop("SLURM_JOB_ID")
        self.proc = subprocess.Popen([python(), str(RANKS / "rank_warned.py"), str(self.nodes), str(self.db), *args],
                                     env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_until("started", lambda: (self.nodes / "started").exists() or self.proc.poll() is not None, 60)
        assert self.proc.poll() is None, self.output()

    def touch(self, name: str) -> None:
        (self.nodes / name).touch()

    def end(self) -> int:
        self.touch("exit")
        return self.proc.wait(timeout=60)

    def output(self) -> str:
        return self.proc.stdout.read() if self.proc.stdout else ""


@pytest.fixture
def jobs() -> Any:
    made: list[Job] = []
    yield made
    for j in made:
        j.proc.kill()
        j.proc.wait(timeout=10)


def test_the_warning_flushes_and_marks_the_run_which_measures_on(tmp_path: Path, jobs: list[Job]) -> None:
    total = single_tracker_total(tmp_path / "alone", 1)
    job = Job(tmp_path)
    jobs.append(job)
    sent = time.time()
    os.kill(job.proc.pid, signal.SIGUSR1)
    head = wait_until("the flush the warning asked for", lambda: [h for h in stored(job.db)
                                                                   if h["job"].get("slurm_signal")])[0]
    assert head["status"] == "running" and job.proc.poll() is None  # not killed: measured on
    mark = head["job"]["slurm_signal"]
    assert mark["signal"] == "SIGUSR1" and sent - 1 <= mark["wall"] <= time.time()
    apply_bump(job.nodes)  # the counters move after the warning: still counted
    job.touch("go")
    wait_until("stopped", (job.nodes / "stopped").exists)
    run = SqliteStore.open(job.db).get_run(head["id"])
    assert run["status"] == "finished" and run["job"]["slurm_signal"] == mark
    assert run["energy_j"] == pytest.approx(total, abs=1e-6)
    assert any(f["source"] == "slurm" and "SIGUSR1" in f["message"] for f in run["faults"])
    # the merged view of the job says it too
    view = [h for h in SqliteStore.open(job.db).list_runs() if h["job"] and h["job"].get("rank") is None]
    assert view and view[0]["job"]["slurm_signal"] == mark
    # once the run stopped, the signal's default action is back: it ends the process as it would
    os.kill(job.proc.pid, signal.SIGUSR1)
    assert job.proc.wait(timeout=30) == -signal.SIGUSR1


def test_a_program_handler_is_never_stolen(tmp_path: Path, jobs: list[Job]) -> None:
    job = Job(tmp_path, "own")
    jobs.append(job)
    os.kill(job.proc.pid, signal.SIGUSR1)
    wait_until("the program's own handler ran", (job.nodes / "own-handler").exists)
    job.touch("go")
    assert job.end() == 0, job.output()
    (run,) = stored(job.db)
    assert "slurm_signal" not in run["job"]


@pytest.mark.parametrize(("more", "sig"), [
    ({"SLURM_JOB_ID": ""}, signal.SIGUSR1),  # not under Slurm: USR1 is not ours to take
    ({"WATTPRINT_SLURM_SIGNAL": "off"}, signal.SIGUSR1),
    ({"WATTPRINT_SLURM_SIGNAL": "USR2"}, signal.SIGUSR1),  # another signal was chosen
])
def test_where_not_asked_the_signal_keeps_its_default_action(tmp_path: Path, jobs: list[Job],
                                                             more: dict[str, str], sig: int) -> None:
    job = Job(tmp_path, **more)
    jobs.append(job)
    os.kill(job.proc.pid, sig)
    assert job.proc.wait(timeout=30) == -sig


def test_the_chosen_signal_is_handled(tmp_path: Path, jobs: list[Job]) -> None:
    job = Job(tmp_path, WATTPRINT_SLURM_SIGNAL="USR2")
    jobs.append(job)
    os.kill(job.proc.pid, signal.SIGUSR2)
    head = wait_until("marked", lambda: [h for h in stored(job.db) if h["job"].get("slurm_signal")])[0]
    assert head["job"]["slurm_signal"]["signal"] == "SIGUSR2"
    job.touch("go")
    assert job.end() == 0, job.output()
