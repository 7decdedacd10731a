"""Without a communicator, ranks on one host read each GPU once: a rank whose local rank is not 0
leaves the GPUs lower local ranks read (said in the per-host registry) and never reads them.

Real rank processes (the launcher's variables set by hand, as torchrun sets them), one fake
node: a powercap tree and fake NVML whose GPU counters are files, each rank's NVML energy reads
counted. The job total must equal one tracker's alone on the same machine.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from job_machines import RANKS, build, drive, env, python, single_tracker_total, wait_started
from wattprint.store.jobs import merged_id
from wattprint.store.sqlite import SqliteStore
from wattprint.tracking.hostreg import HostRegistry

GPUS = 2


def _rank(nodes: Path, db: Path, rank: int, **more: str) -> subprocess.Popen[str]:
    e = env(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2", WATTPRINT_JOB="gpu-job",
            **more)
    return subprocess.Popen([python(), str(RANKS / "rank_gpus.py"), str(nodes), str(db), str(GPUS)], env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _job(tmp_path: Path, sees: tuple[str, str], together: bool) -> tuple[Path, Path, list[dict[str, int]]]:
    nodes, db = build(tmp_path / "nodes", 1, GPUS), tmp_path / "db.sqlite"
    procs: list[subprocess.Popen[str]] = []
    try:
        for rank in (1, 0) if together else (0, 1):  # together: rank 1 first, so it must wait for rank 0
            procs.append(_rank(nodes, db, rank, SEES=sees[rank]))
            if not together:
                wait_started(nodes, [rank], procs)
    except BaseException:
        for p in procs:
            p.kill()
        raise
    drive(nodes, procs)
    return nodes, db, [json.loads((nodes / f"reads-{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.parametrize("together", [False, True])
def test_a_gpu_local_rank_0_reads_is_never_read_by_the_others(tmp_path: Path, together: bool) -> None:
    nodes, db, reads = _job(tmp_path, ("", ""), together)
    assert sorted(reads[0]) == sorted(g.uuid for g in _gpus(nodes)) and min(reads[0].values()) >= 3
    assert reads[1] == {}  # not one energy read of a GPU rank 0 reads
    view = SqliteStore.open(db).get_run(merged_id("gpu-job"))
    assert view["energy_j"] == pytest.approx(single_tracker_total(tmp_path / "alone", 1, GPUS), abs=1e-6)
    assert [(p["rank"], p["duplicates"]) for p in view["job"]["parts"]] == [(0, []), (1, [])]
    assert view["job"]["parts"][1]["channels"] == []
    assert HostRegistry(str(tmp_path / "host-registry"), "00000000-fake-boot-id").entries() == []  # cleaned up


def test_a_gpu_only_a_higher_rank_sees_is_read_by_it(tmp_path: Path) -> None:
    """Per-task GPU binding (srun --gpus-per-task): each rank sees its own GPU and reads it."""
    nodes, db, reads = _job(tmp_path, ("0", "1"), False)
    gpus = [g.uuid for g in _gpus(nodes)]
    assert list(reads[0]) == [gpus[0]] and list(reads[1]) == [gpus[1]]
    view = SqliteStore.open(db).get_run(merged_id("gpu-job"))
    assert view["job"]["parts"][1]["channels"] == [f"gpu:{gpus[1]}"]
    assert view["energy_j"] == pytest.approx(single_tracker_total(tmp_path / "alone", 1, GPUS), abs=1e-6)


def _gpus(nodes: Path) -> list:  # type: ignore[type-arg]
    from job_machines import fake_nvml

    return fake_nvml(nodes, 0, GPUS).gpus


def test_the_registry_drops_dead_processes_and_reads_garbage_as_empty(tmp_path: Path) -> None:
    reg = HostRegistry(str(tmp_path / "reg"), "boot")
    reg.register("j", 0, 0, ["gpu:A"])
    dead = subprocess.run([python(), "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          timeout=30)
    entries = json.loads(Path(reg.path).read_text())
    entries.append({"job": "j", "rank": 1, "local_rank": 0, "pid": int(dead.stdout), "gpus": ["gpu:B"]})
    Path(reg.path).write_text(json.dumps(entries))
    assert reg.lower_ranks_gpus("j", 1) == (True, {"gpu:A"})  # the dead process's entry is gone
    assert [e["gpus"] for e in json.loads(Path(reg.path).read_text())] == [["gpu:A"]]
    Path(reg.path).write_text("{not json")
    assert reg.entries() == [] and reg.lower_ranks_gpus("j", 1) == (False, set())
    reg.unregister()
