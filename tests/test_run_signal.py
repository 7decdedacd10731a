"""``wattprint run`` under Slurm passes the warning signal on to its command (``sbatch --signal=B:USR1@T``
signals only the batch shell, which is wattprint): the command checkpoints, the run is marked and flushed.

Real processes and real signals (``os.kill``, as slurmd sends them); one fake powercap tree.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from job_machines import RANKS, build, env, python
from wattprint.store.sqlite import SqliteStore


def wait_until(what: str, check: Any, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, f"{what}: wattprint ended first: {proc.communicate()[0]}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.02)


def start(tmp_path: Path, **more: str) -> tuple[subprocess.Popen[str], Path, Path]:
    nodes, db = build(tmp_path / "nodes", 1), tmp_path / "db.sqlite"
    e = env(WATTPRINT_BOOT_ID_FILE=str(nodes / "node-0" / "boot_id"), WATTPRINT_FLUSH_EVERY_S="3600",
            WATTPRINT_HOST_REGISTRY_DIR=str(tmp_path / "registry"), **more)
    cmd = [python(), "-m", "wattprint.cli.main", "run", "-q", "--db", str(db), "--country", "FR", "--gpus", "none",
           "--rapl-root", str(nodes / "node-0" / "rapl"), "--interval", "0.05", "--",
           python(), str(RANKS / "child_usr1.py"), str(tmp_path)]
    proc = subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_until("the command's handler in", (tmp_path / "ready").exists, proc)
    return proc, db, tmp_path / "got-usr1"


def test_slurm_warning_reaches_the_command_and_marks_the_run(tmp_path: Path) -> None:
    proc, db, got = start(tmp_path, SLURM_JOB_ID="4242")
    os.kill(proc.pid, signal.SIGUSR1)  # to wattprint only, as --signal=B:USR1 does
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, out
    assert got.read_text() == "checkpointed\n", out
    partial = [h for h in SqliteStore.open(db).list_runs() if h["job"] and h["job"].get("rank") is not None]
    assert len(partial) == 1 and partial[0]["status"] == "finished", partial
    assert partial[0]["job"]["slurm_signal"]["signal"] == "SIGUSR1"


def test_off_slurm_usr1_is_not_taken_over(tmp_path: Path) -> None:
    """Without Slurm nothing handles USR1 in wattprint: its default action (end) stays, as before."""
    proc, db, got = start(tmp_path, SLURM_JOB_ID="")
    os.kill(proc.pid, signal.SIGUSR1)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGUSR1
    assert not got.exists()
