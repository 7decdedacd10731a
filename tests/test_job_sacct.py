"""Slurm's own energy figure (sacct ConsumedEnergy) kept beside ours in a Slurm job's merged view.

The boundary the code reads is the ``sacct`` program: here a fake one on PATH that prints what
the real one prints (``-n -P -o ConsumedEnergyRaw``: one number of joules per line, ``0`` when no
energy plugin gathers, nothing for an unknown step, an error and exit 1 without accounting) and
logs its arguments. The real single-node cluster (no slurmdbd) is in test_job_slurm.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from job_machines import RANKS, build, drive, env, python, single_tracker_total
from wattprint.store.jobs import merged_id
from wattprint.store.sqlite import SqliteStore
from wattprint.tracking.slurm import cross_check, sacct_energy


def fake_sacct(where: Path, body: str) -> Path:
    """A ``sacct`` in ``where`` that logs its arguments to ``where/args`` and then runs ``body`` (sh)."""
    where.mkdir(parents=True, exist_ok=True)
    exe = where / "sacct"
    exe.write_text(f'#!/bin/sh\necho "$@" >> {where}/args\n{body}\n')
    exe.chmod(0o755)
    return where


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    def put(body: str) -> Path:
        d = fake_sacct(tmp_path / "bin", body)
        monkeypatch.setenv("PATH", f"{d}{os.pathsep}{os.environ['PATH']}")
        return d
    return put


def test_slurm_figure_is_read_and_compared(on_path) -> None:  # type: ignore[no-untyped-def]
    d = on_path("echo 8000")
    got = sacct_energy("77.3", 8400.0)
    assert got["energy_j"] == 8000.0 and got["ours_j"] == 8400.0
    assert got["difference_pct"] == pytest.approx(5.0)
    assert got["note"] == "" and got["target"] == "77.3"
    assert (d / "args").read_text().split() == ["-j", "77.3", "-n", "-P", "-o", "ConsumedEnergyRaw"]


@pytest.mark.parametrize(("body", "says"), [
    ("echo 0", "Slurm recorded no energy"),  # acct_gather_energy/none: sacct prints 0
    ("true", "Slurm recorded no energy"),  # a step accounting does not know: no line at all
    ("echo 'Slurm accounting storage is disabled' >&2; exit 1",  # the real one's words here
     "sacct failed (1): Slurm accounting storage is disabled"),
])
def test_missing_slurm_figure_is_one_honest_line(on_path, body: str, says: str) -> None:  # type: ignore[no-untyped-def]
    on_path(body)
    got = sacct_energy("77.batch", 10.0)
    assert got["energy_j"] is None and got["difference_pct"] is None
    assert got["note"].startswith(says) and "\n" not in got["note"]


def test_a_hanging_sacct_is_cut_short(on_path) -> None:  # type: ignore[no-untyped-def]
    on_path("sleep 30; echo 5")  # a child of the shell: its group is killed, so the pipes close too
    t0 = time.monotonic()
    got = sacct_energy("77.0", 10.0, timeout_s=0.5)
    assert time.monotonic() - t0 < 3.0
    assert got["energy_j"] is None and got["note"] == "sacct did not answer within 0.5 s"


def test_a_hanging_sacct_is_a_fault_of_the_job_view(on_path) -> None:  # type: ignore[no-untyped-def]
    on_path("sleep 30")
    view = {"job": {"slurm": {"SLURM_JOB_ID": "77"}, "parts": [{"restart": 0, "energy_j": 3.0}]}, "faults": []}
    got = cross_check(view)  # type: ignore[arg-type]
    assert got is not None and got["target"] == "77.batch" and got["ours_j"] == 3.0
    assert [(f["source"], f["message"]) for f in view["faults"]] == [("slurm", got["note"])]
    assert got["note"].startswith("sacct did not answer within")


def test_no_sacct_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert sacct_energy("77.0", 1.0)["note"] == "sacct is not installed here"


def _slurm_job(tmp_path: Path, slurm_j: float) -> tuple[Path, Path, dict[str, str]]:
    """Two ranks of step 5 of Slurm job 909 on one fake node, sacct saying ``slurm_j``; returns (nodes, db, env)."""
    nodes, db = build(tmp_path / "nodes", 1), tmp_path / "db.sqlite"
    d = fake_sacct(tmp_path / "bin", f"echo {slurm_j:.0f}")
    base = env(PATH=f"{d}{os.pathsep}{os.environ['PATH']}", SLURM_JOB_ID="909", SLURM_STEP_ID="5",
               SLURM_NTASKS="2")
    procs = [subprocess.Popen([python(), str(RANKS / "rank_env.py"), str(nodes), str(db), "0"],
                              env=dict(base, SLURM_PROCID=str(r), SLURM_LOCALID=str(r)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in (0, 1)]
    drive(nodes, procs)
    return nodes, db, base


def test_a_slurm_jobs_view_keeps_sacct_beside_ours_and_show_says_it(tmp_path: Path) -> None:
    ours = single_tracker_total(tmp_path / "alone", 1)
    slurm_j = round(ours * 1.25)
    _, db, base = _slurm_job(tmp_path, slurm_j)
    view = SqliteStore.open(db).get_run(merged_id("slurm:909.5"))
    check = view["job"]["slurm_energy"]
    assert check["target"] == "909.5" and check["energy_j"] == slurm_j
    assert check["ours_j"] == pytest.approx(ours, abs=1e-6)
    assert check["difference_pct"] == pytest.approx((ours - slurm_j) / slurm_j * 100)
    # asked by the rank that merged (both may, when they finish together: the same view, stored twice)
    asked = (tmp_path / "bin" / "args").read_text().splitlines()
    assert 1 <= len(asked) <= 2 and set(asked) == {"-j 909.5 -n -P -o ConsumedEnergyRaw"}
    out = subprocess.run([sys.executable, "-m", "wattprint.cli.main", "show", view["id"], "--db", str(db)],
                         env=base, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if "Slurm's own figure" in ln)
    assert "909.5" in line and f"{check['difference_pct']:+.1f} %" in line


def test_merge_by_hand_asks_sacct_again(tmp_path: Path) -> None:
    """After the job, 'wattprint merge' takes Slurm's final figure (the one at the end of a step is partial)."""
    _, db, base = _slurm_job(tmp_path, 1000)
    fake_sacct(tmp_path / "bin", "echo 2000")
    out = subprocess.run([sys.executable, "-m", "wattprint.cli.main", "merge", "slurm:909.5", "--db", str(db)],
                         env=base, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert SqliteStore.open(db).get_run(merged_id("slurm:909.5"))["job"]["slurm_energy"]["energy_j"] == 2000
    assert "Slurm's own figure" in out.stdout
