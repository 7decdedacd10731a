"""Real ranks in real processes: by hand (launcher variables only), torchrun with gloo, mpirun.

Every rank tracks with the Python API against a fake machine per simulated node (its own
powercap tree and boot id, tests/job_machines.py); while they track, the counters move. The
job's total must equal what one tracker alone measures on the same machines: each device
counted once, within one node and across nodes. Faults: a rank killed, rank 0 killed, a rank
that never reaches stop(). Every launch has a timeout, so a hang fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from job_machines import RANKS, apply_bump, build, env, python, run, single_tracker_total
from realparts import need_module, need_program
from wattprint.store.jobs import merge_job, merged_id, partials
from wattprint.store.sqlite import SqliteStore

TORCH_HOW = "install torch: .venv/bin/pip install torch==2.13.0 numpy (.ci/setup.d/30-torch.sh)"


def _view(db: Path, job_id: str | None = None) -> dict:
    store = SqliteStore.open(db)
    heads = [h for h in store.list_runs() if h["job"] and h["job"]["rank"] is None]
    assert len(heads) == 1, f"expected one merged job view, found {len(heads)}"
    return store.get_run(heads[0]["id"])


def _kill_all(p: subprocess.Popen[bytes], marker: Path) -> None:
    """Kill a launcher's process group and every process whose command line names ``marker``:
    torchrun starts its workers in sessions of their own, so a hanging rank outlives ``killpg``."""
    os.killpg(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(marker).encode() in (proc / "cmdline").read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError):  # gone meanwhile, or not ours
            pass


def _wait_for(paths: list[Path], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, f"never appeared: {[str(p) for p in paths if not p.exists()]}"
        time.sleep(0.02)


@pytest.mark.parametrize("dies", [None, "0"])
def test_ranks_by_hand_on_two_nodes_count_each_device_once(tmp_path: Path, dies: str | None) -> None:
    nodes, db = build(tmp_path / "nodes", 2), tmp_path / "db.sqlite"
    procs = []
    for rank in range(4):  # ranks 0,1 on node 0, ranks 2,3 on node 1 (as srun would place them)
        e = env(SLURM_JOB_ID="4242", SLURM_STEP_ID="0", SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank % 2),
                SLURM_NTASKS="4", SLURM_NODEID=str(rank // 2), RANK_DIES=dies or "")
        procs.append(subprocess.Popen([python(), str(RANKS / "rank_env.py"), str(nodes), str(db), str(rank // 2)],
                                      env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        _wait_for([nodes / f"started-{r}" for r in range(4)], 60)
        apply_bump(nodes)
        (nodes / "go").touch()
        codes = [p.wait(timeout=60) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert codes == [-9 if dies == "0" and r == 0 else 0 for r in range(4)], [p.stdout.read() for p in procs]
    expected = single_tracker_total(tmp_path / "alone", 2)
    view = _view(db)  # merged by the last rank to finish, rank 0 killed or not
    assert view["energy_j"] == pytest.approx(expected, abs=1e-6)
    assert view["job"]["id"] == "slurm:4242.0" and view["job"]["election"] == "environment"
    assert [n["ranks"] for n in view["job"]["nodes"]] == [[0, 1], [2, 3]]
    assert [p["energy_j"] > 0 for p in view["job"]["parts"]] == [True, False, True, False]
    assert view["status"] == ("killed" if dies else "finished")


def _torchrun(nodes: Path, db: Path, nproc: int, per_node: int, timeout: float = 120,
              **more: str) -> subprocess.CompletedProcess[str]:
    need_module("torch", TORCH_HOW)
    torchrun = need_program("torchrun", TORCH_HOW, str(Path(python()).parent))
    return run([torchrun, "--standalone", f"--nproc_per_node={nproc}", str(RANKS / "rank_comm.py"), "torch",
                str(nodes), str(db), str(per_node)], timeout, env=env(OMP_NUM_THREADS="1", **more))


@pytest.mark.parametrize(("nproc", "per_node", "gpus"), [(2, 2, 0), (4, 2, 2)])
def test_torchrun_job_total_equals_one_tracker_on_the_same_machines(
        tmp_path: Path, nproc: int, per_node: int, gpus: int) -> None:
    nodes, db = build(tmp_path / "nodes", nproc // per_node, gpus), tmp_path / "db.sqlite"
    out = _torchrun(nodes, db, nproc, per_node, FAKE_GPUS=str(gpus))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    view = _view(db)
    alone = single_tracker_total(tmp_path / "alone", nproc // per_node, gpus)
    assert view["energy_j"] == pytest.approx(alone, abs=1e-6)
    job = view["job"]
    assert job["election"] == "torch.distributed" and job["id"].startswith("torchelastic:")
    assert job["ranks_seen"] == nproc and len(job["nodes"]) == nproc // per_node
    owners = [p["rank"] for p in job["parts"] if p["channels"]]
    assert owners == list(range(0, nproc, per_node))  # the lowest rank on each boot id, exactly
    # every rank of a node saw its GPUs; only the lowest one read them (none left for the merge to drop)
    gpu_channels = [c for c in view["channels"] if c.startswith("gpu:")]
    assert len(gpu_channels) == gpus * (nproc // per_node)
    assert all(not p["duplicates"] for p in job["parts"])


def test_torch_spawn_without_launcher_variables_is_found_through_torch_distributed(tmp_path: Path) -> None:
    need_module("torch", TORCH_HOW)
    nodes, db = build(tmp_path / "nodes", 1), tmp_path / "db.sqlite"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    out = run([python(), str(RANKS / "rank_spawn.py"), str(nodes), str(db), port], 120, env=env(OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    view = _view(db)
    assert view["job"]["id"].startswith("torch.distributed:") and view["job"]["election"] == "torch.distributed"
    assert view["energy_j"] == pytest.approx(single_tracker_total(tmp_path / "alone", 1), abs=1e-6)
    assert [p["rank"] for p in view["job"]["parts"] if p["channels"]] == [0]


@pytest.mark.parametrize("who", ["0", "1"])  # rank 0 owns the host; rank 1 measures nothing
def test_torchrun_rank_killed_mid_run_leaves_a_mergeable_job(tmp_path: Path, who: str) -> None:
    nodes, db = build(tmp_path / "nodes", 1), tmp_path / "db.sqlite"
    out = _torchrun(nodes, db, 2, 2, FAULT=f"kill:{who}")  # dies after the work, before stop()
    assert out.returncode != 0
    store = SqliteStore.open(db)
    parts = partials(store, partials_job(store))
    assert sorted(p["job"]["rank"] for p in parts) == [0, 1]
    view = merge_job(store, parts[0]["job"]["id"])  # what 'wattprint merge' does after a crash
    # rank 0 stored its counters at its last flush before dying: nothing of the host is lost
    assert view["energy_j"] == pytest.approx(single_tracker_total(tmp_path / "alone", 1), abs=1e-6)
    assert view["status"] != "finished"


def partials_job(store: SqliteStore) -> str:
    ids = {h["job"]["id"] for h in store.list_runs() if h["job"]}
    assert len(ids) == 1
    return ids.pop()


def test_torchrun_rank_that_never_stops_delays_the_others_by_the_timeout_only(tmp_path: Path) -> None:
    need_module("torch", TORCH_HOW)
    torchrun = need_program("torchrun", TORCH_HOW, str(Path(python()).parent))
    nodes, db = build(tmp_path / "nodes", 1), tmp_path / "db.sqlite"
    cmd = [torchrun, "--standalone", "--nproc_per_node=2", str(RANKS / "rank_comm.py"), "torch", str(nodes), str(db),
           "2"]
    p = subprocess.Popen(cmd, env=env(OMP_NUM_THREADS="1", FAULT="hang:1", JOB_TIMEOUT="2"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for([nodes / "stopped-0"], 90)
    finally:
        _kill_all(p, nodes)
    took = float((nodes / "stopped-0").read_text())
    assert took < 2 + 15, f"rank 0's stop() took {took:.1f} s with a 2 s job timeout"
    store = SqliteStore.open(db)
    view = merge_job(store, partials_job(store))
    assert view["energy_j"] == pytest.approx(single_tracker_total(tmp_path / "alone", 1), abs=1e-6)
    assert merged_id(view["job"]["id"]) == view["id"]


MPI_HOW = "install OpenMPI and mpi4py: .ci/setup.d/40-mpi.sh (apt openmpi-bin libopenmpi-dev; pip mpi4py)"


def test_mpirun_three_ranks_on_two_nodes_exchange_over_mpi(tmp_path: Path) -> None:
    mpirun = need_program("mpirun", MPI_HOW)
    need_module("mpi4py", MPI_HOW)
    nodes, db = build(tmp_path / "nodes", 2), tmp_path / "db.sqlite"
    out = run([mpirun, "--allow-run-as-root", "--oversubscribe", "-n", "3", python(), str(RANKS / "rank_comm.py"),
               "mpi", str(nodes), str(db), "2"], 120, env=env())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    view = _view(db)
    assert view["energy_j"] == pytest.approx(single_tracker_total(tmp_path / "alone", 2), abs=1e-6)
    job = view["job"]
    assert job["election"] == "mpi" and job["id"].startswith("mpi:") and job["ranks_seen"] == 3
    assert [p["rank"] for p in job["parts"] if p["channels"]] == [0, 2]
    assert [n["ranks"] for n in job["nodes"]] == [[0, 1], [2]]


def test_mpirun_rank_that_never_stops_delays_the_others_by_the_timeout_only(tmp_path: Path) -> None:
    mpirun = need_program("mpirun", MPI_HOW)
    need_module("mpi4py", MPI_HOW)
    nodes, db = build(tmp_path / "nodes", 1), tmp_path / "db.sqlite"
    cmd = [mpirun, "--allow-run-as-root", "--oversubscribe", "-n", "3", python(), str(RANKS / "rank_comm.py"),
           "mpi", str(nodes), str(db), "3"]
    p = subprocess.Popen(cmd, env=env(FAULT="hang:2", JOB_TIMEOUT="2"), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for([nodes / "stopped-0", nodes / "stopped-1"], 90)
    finally:
        _kill_all(p, nodes)
    assert float((nodes / "stopped-0").read_text()) < 2 + 15
    store = SqliteStore.open(db)
    view = merge_job(store, partials_job(store))
    assert view["energy_j"] == pytest.approx(single_tracker_total(tmp_path / "alone", 1), abs=1e-6)


def test_torchrun_elastic_restart_continues_the_job_without_double_counting(tmp_path: Path) -> None:
    """A rank fails once; torchrun (--max-restarts=1) restarts the group: one job, two starts, one total.

    A c10d rendezvous on a port of our own and a fixed ``--rdzv-id``: the job id
    (TORCHELASTIC_RUN_ID) is the same in both starts. TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1: by
    default torch 2.13 hands the workers of every start the agent's one TCPStore, which still holds
    the first start's gloo addresses; a restarted rank that reads its peer's stale address before
    the peer rewrites it fails ("connectFullMesh ... Connection refused") about half the time, and
    with it the job (torch's own race, not wattprint's). Off, rank 0 hosts a new store per start.
    """
    need_module("torch", TORCH_HOW)
    torchrun = need_program("torchrun", TORCH_HOW, str(Path(python()).parent))
    nodes, db = build(tmp_path / "nodes", 1), tmp_path / "db.sqlite"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = run([torchrun, "--nnodes=1", "--nproc_per_node=2", "--max-restarts=1", "--monitor-interval=0.2",
               "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=elastic-test",
               str(RANKS / "rank_elastic.py"), str(nodes), str(db)], 240,
              env=env(OMP_NUM_THREADS="1", TORCH_DISABLE_SHARE_RDZV_TCP_STORE="1"))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert all((nodes / f).exists() for f in ("first-0", "first-1", "stopped-0", "stopped-1"))
    view = _view(db)
    job = view["job"]
    assert job["id"] == "torchelastic:elastic-test" and job["restarts"] == 2 and view["status"] == "finished"
    assert [(p["restart"], p["rank"]) for p in job["parts"]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [p["status"] for p in job["parts"]][2:] == ["finished", "finished"]
    assert all(p["status"] != "finished" for p in job["parts"][:2])  # the failed start, stored as it ended
    assert view["energy_j"] == pytest.approx(single_tracker_total(tmp_path / "alone", 1), abs=1e-6)
