"""Distributed jobs under a real single-node Slurm (tests/slurm_cluster.py): srun steps, a batch
job preempted by Slurm's SIGTERM and requeued, continuing the same job record.

If the cluster cannot start here, the test says why (realparts.missing: a failure in CI).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import slurm_cluster
from job_machines import RANKS, apply_bump, build, env, python, single_tracker_total
from realparts import missing
from wattprint.store.jobs import merged_id
from wattprint.store.sqlite import SqliteStore


@pytest.fixture(scope="module")
def cluster() -> Iterator[slurm_cluster.Cluster]:
    try:
        c = slurm_cluster.start()
    except slurm_cluster.NoCluster as exc:
        missing("a single-node Slurm cluster", str(exc))
        raise AssertionError("unreachable") from None
    yield c
    c.stop()


def _slurm_env(c: slurm_cluster.Cluster) -> dict[str, str]:
    return env(SLURM_CONF=str(c.conf))


def _wait(path: Path, timeout: float, c: slurm_cluster.Cluster) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared\n{c.logs()}"
        time.sleep(0.05)


def test_srun_two_tasks_make_one_job_with_the_host_counted_once(tmp_path: Path, cluster: slurm_cluster.Cluster) -> None:
    nodes, db = build(tmp_path / "nodes", 1), tmp_path / "db.sqlite"
    nodes.chmod(0o755)
    p = subprocess.Popen(["srun", "-n", "2", python(), str(RANKS / "rank_env.py"), str(nodes), str(db), "0"],
                         env=_slurm_env(cluster), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for r in (0, 1):
            _wait(nodes / f"started-{r}", 60, cluster)
        apply_bump(nodes)
        (nodes / "go").touch()
        assert p.wait(timeout=60) == 0, p.stdout.read() if p.stdout else ""
    finally:
        p.kill()
    store = SqliteStore.open(db)
    views = [h for h in store.list_runs() if h["job"] and h["job"]["rank"] is None]
    assert len(views) == 1
    view = store.get_run(views[0]["id"])
    assert view["energy_j"] == pytest.approx(single_tracker_total(tmp_path / "alone", 1), abs=1e-6)
    job = view["job"]
    assert job["id"].startswith("slurm:") and job["id"].endswith(".0") and job["launcher"] == "slurm"
    assert job["slurm"]["SLURM_JOB_NODELIST"] and job["ranks_seen"] == 2
    assert [p["rank"] for p in job["parts"] if p["channels"]] == [0]
    # no accounting daemon here: Slurm's own figure is missing, said in one line (sacct's own words)
    check = job["slurm_energy"]
    assert check["target"] == job["id"].removeprefix("slurm:") and check["energy_j"] is None
    assert check["note"].startswith("sacct failed (1): ") and "\n" not in check["note"], check
    shown = subprocess.run([python(), "-m", "wattprint.cli.main", "show", view["id"], "--db", str(db)],
                           env=_slurm_env(cluster), capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert [ln for ln in shown.stdout.splitlines() if "Slurm's own figure" in ln] == [
        f"  Slurm's own figure (sacct ConsumedEnergy of {check['target']}): not available: {check['note']}"]


def _state(c: slurm_cluster.Cluster, job: str) -> str:
    return c.cmd("squeue", "-h", "-j", job, "-o", "%T").stdout.strip()


def test_a_requeued_batch_job_is_preempted_then_continues_the_same_job(
        tmp_path: Path, cluster: slurm_cluster.Cluster) -> None:
    nodes, db = build(tmp_path / "nodes", 1), tmp_path / "db.sqlite"
    nodes.chmod(0o755)
    out = cluster.cmd("sbatch", "--parsable", "--requeue", "--open-mode=append", "-o", str(tmp_path / "job.log"),
                      "--wrap", f"exec {python()} {RANKS / 'rank_slurm.py'} {nodes} {db}")
    assert out.returncode == 0, out.stderr
    jid = out.stdout.strip().split(";")[0]
    _wait(nodes / "started-0", 60, cluster)
    half = {k: v // 2 for k, v in json.loads((nodes / "bump").read_text()).items()}
    for path, value in half.items():  # the first start uses half of what the job will use
        (nodes / path).write_text(f"{value}\n")
    time.sleep(0.5)
    assert cluster.cmd("scontrol", "requeue", jid).returncode == 0
    deadline = time.monotonic() + 60
    while _state(cluster, jid) not in ("PENDING",):
        assert time.monotonic() < deadline, f"job {jid} never went back to pending\n{cluster.logs()}"
        time.sleep(0.2)
    cluster.cmd("scontrol", "update", f"jobid={jid}", "StartTime=now")
    _wait(nodes / "started-1", 90, cluster)
    apply_bump(nodes)
    (nodes / "go-1").touch()
    _wait(nodes / "stopped-1", 60, cluster)
    time.sleep(0.5)  # the merge follows the stop
    store = SqliteStore.open(db)
    view = store.get_run(merged_id(f"slurm:{jid}"))
    assert view["job"]["restarts"] == 2 and view["status"] == "finished"
    assert [(p["restart"], p["status"]) for p in view["job"]["parts"]] == [(0, "preempted"), (1, "finished")]
    assert view["energy_j"] == pytest.approx(single_tracker_total(tmp_path / "alone", 1), abs=1e-6)


def test_srun_wattprint_run_per_task_counts_the_host_once(tmp_path: Path, cluster: slurm_cluster.Cluster) -> None:
    nodes, db = build(tmp_path / "nodes", 1), tmp_path / "db.sqlite"
    nodes.chmod(0o755)
    e = dict(_slurm_env(cluster), WATTPRINT_RAPL_ROOT=str(nodes / "node-0" / "rapl"),
             WATTPRINT_BOOT_ID_FILE=str(nodes / "node-0" / "boot_id"))
    out = subprocess.run(["srun", "-n", "2", python(), "-m", "wattprint.cli.main", "run", "--country", "FR",
                          "--db", str(db), "--", python(), "-c", "import time; time.sleep(0.5)"],
                         env=e, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    store = SqliteStore.open(db)
    views = [h for h in store.list_runs() if h["job"] and h["job"]["rank"] is None]
    assert len(views) == 1
    job = store.get_run(views[0]["id"])["job"]
    assert job["ranks_seen"] == 2 and job["launcher"] == "slurm"
    assert [bool(p["channels"]) for p in job["parts"]] == [True, False]  # task 0 measured the host, task 1 not


def test_slurms_warning_signal_flushes_the_run_which_then_finishes(
        tmp_path: Path, cluster: slurm_cluster.Cluster) -> None:
    """What ``--signal=USR1@T`` sends before the time limit, sent now by ``scancel --signal=USR1 --batch``."""
    nodes, db = build(tmp_path / "nodes", 1), tmp_path / "db.sqlite"
    nodes.chmod(0o755)
    out = cluster.cmd("sbatch", "--parsable", "-o", str(tmp_path / "job.log"),
                      "--wrap", f"exec {python()} {RANKS / 'rank_warned.py'} {nodes} {db}")
    assert out.returncode == 0, out.stderr
    jid = out.stdout.strip().split(";")[0]
    _wait(nodes / "started", 60, cluster)
    sent = cluster.cmd("scancel", "--signal=USR1", "--batch", jid)
    assert sent.returncode == 0, sent.stderr
    deadline, marked = time.monotonic() + 30, []
    while not marked:  # the tracked program flushes hourly: only the warning flushes this soon
        assert time.monotonic() < deadline, f"never marked\n{cluster.logs()}"
        time.sleep(0.1)
        heads = SqliteStore.open(db).list_runs() if db.exists() else []
        marked = [h for h in heads if h["job"] and (h["job"].get("slurm_signal") or {}).get("signal") == "SIGUSR1"]
    assert marked[0]["status"] == "running" and _state(cluster, jid) == "RUNNING"
    apply_bump(nodes)
    (nodes / "go").touch()
    _wait(nodes / "stopped", 60, cluster)
    (nodes / "exit").touch()
    run = SqliteStore.open(db).get_run(marked[0]["id"])
    assert run["status"] == "finished" and run["job"]["id"] == f"slurm:{jid}"
    assert run["energy_j"] == pytest.approx(single_tracker_total(tmp_path / "alone", 1), abs=1e-6)


def test_sbatch_signal_to_the_batch_shell_reaches_the_command_under_wattprint_run(
        tmp_path: Path, cluster: slurm_cluster.Cluster) -> None:
    """``--signal=B:USR1@T`` signals the batch shell only (here ``exec wattprint run``, sent now by
    ``scancel --signal=USR1 --batch``): the command still gets it and checkpoints; the run is marked."""
    nodes, db = build(tmp_path / "nodes", 1), tmp_path / "db.sqlite"
    tmp_path.chmod(0o755)
    nodes.chmod(0o755)
    wrap = (f"exec {python()} -m wattprint.cli.main run -q --country FR --gpus none --db {db} "
            f"--rapl-root {nodes / 'node-0' / 'rapl'} -- {python()} {RANKS / 'child_usr1.py'} {tmp_path}")
    out = cluster.cmd("sbatch", "--parsable", "-o", str(tmp_path / "job.log"), "--wrap", wrap)
    assert out.returncode == 0, out.stderr
    jid = out.stdout.strip().split(";")[0]
    _wait(tmp_path / "ready", 60, cluster)
    sent = cluster.cmd("scancel", "--signal=USR1", "--batch", jid)
    assert sent.returncode == 0, sent.stderr
    _wait(tmp_path / "got-usr1", 30, cluster)
    deadline, heads = time.monotonic() + 60, []
    while not [h for h in heads if h["status"] != "running"]:
        assert time.monotonic() < deadline, f"never stored\n{cluster.logs()}"
        time.sleep(0.1)
        heads = [h for h in SqliteStore.open(db).list_runs() if h["job"] and h["job"]["rank"] == 0] \
            if db.exists() else []
    assert heads[0]["status"] == "finished" and heads[0]["job"]["slurm_signal"]["signal"] == "SIGUSR1"
    assert heads[0]["job"]["id"] == f"slurm:{jid}"
