"""Ranks of a distributed job: who a process is, who measures a host, how partial runs merge.

The trackers here are real (fake powercap trees, a real SQLite store); each one is made a
rank by the launcher variables it would see under torchrun (set with monkeypatch).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import wattprint
from fake_rapl import make_tree, set_uj
from test_cli import wp
from wattprint.report.schema import build_report
from wattprint.store.jobs import complete, merge, merged_id, partials
from wattprint.store.sqlite import SqliteStore
from wattprint.tracking import job
from wattprint.tracking.record import check_run_record

TORCHRUN = {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2", "GROUP_RANK": "0",
            "TORCHELASTIC_RUN_ID": "abc", "MASTER_ADDR": "n1", "MASTER_PORT": "29500"}


# -- who am I ----------------------------------------------------------------------------------


def test_torchrun_variables_name_the_rank_and_the_job() -> None:
    info = job.detect(None, TORCHRUN)
    assert info is not None
    assert (info.id, info.rank, info.world_size, info.local_rank, info.launcher) == (
        "torchelastic:abc", 1, 4, 1, "torch")


def test_torch_variables_win_over_slurm_under_srun_torchrun() -> None:
    env = {**TORCHRUN, "SLURM_JOB_ID": "77", "SLURM_STEP_ID": "0", "SLURM_PROCID": "0", "SLURM_NTASKS": "2"}
    info = job.detect(None, env)
    assert info is not None and info.rank == 1 and info.id == "slurm:77.0"  # Slurm's id: one per allocation step


def test_openmpi_and_slurm_steps_and_arrays() -> None:
    mpi = job.detect(None, {"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "3",
                            "OMPI_COMM_WORLD_LOCAL_RANK": "0", "PMIX_NAMESPACE": "prterun-x-1@1"})
    assert mpi is not None and (mpi.rank, mpi.world_size, mpi.local_rank, mpi.id) == (2, 3, 0, "mpi:prterun-x-1@1")
    step = {"SLURM_JOB_ID": "90", "SLURM_ARRAY_JOB_ID": "88", "SLURM_ARRAY_TASK_ID": "3", "SLURM_STEP_ID": "1",
            "SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NTASKS": "8", "SLURM_RESTART_COUNT": "2"}
    info = job.detect(None, step)
    assert info is not None
    assert (info.id, info.rank, info.restart, info.slurm["SLURM_ARRAY_TASK_ID"]) == ("slurm:88_3.1", 5, 2, "3")


def test_a_slurm_batch_script_is_a_job_of_one_rank_and_a_single_process_is_not_a_job() -> None:
    batch = job.detect(None, {"SLURM_JOB_ID": "9", "SLURM_PROCID": "0", "SLURM_NTASKS": "4",
                              "SLURM_RESTART_COUNT": "1"})  # no step: one process, whatever SLURM_NTASKS says
    assert batch is not None and (batch.id, batch.rank, batch.world_size, batch.restart) == ("slurm:9", 0, 1, 1)
    assert job.detect(None, {"RANK": "0", "WORLD_SIZE": "1", "TORCHELASTIC_RUN_ID": "x"}) is None
    assert job.detect(None, {}) is None
    assert job.detect("off", TORCHRUN) is None


def test_the_job_setting_names_the_job_and_static_rendezvous_falls_back_to_the_address() -> None:
    explicit = job.detect("exp-7", TORCHRUN)
    assert explicit is not None and explicit.id == "exp-7" and explicit.rank == 1
    static = job.detect(None, {**TORCHRUN, "TORCHELASTIC_RUN_ID": "none"})
    assert static is not None and static.id == "torch:n1:29500"
    alone = job.detect("exp-7", {})
    assert alone is not None and (alone.rank, alone.world_size) == (0, 1)


def test_boot_id_and_device_keys(tmp_path: Path) -> None:
    f = tmp_path / "boot"
    f.write_text("b-1\n")
    assert job.boot_id(str(f)) == "b-1"
    assert len(job.boot_id()) >= 8  # this host's own (or its name where there is none)
    assert job.device_key("cpu:package-0", "cpu", "b-1") == "b-1/cpu:package-0"
    assert job.device_key("gpu:GPU-1234", "gpu", "b-1") == "gpu:GPU-1234"  # a GPU is its UUID, on any host


def test_host_owner_is_the_lowest_rank_per_boot_id_or_local_rank_zero() -> None:
    boots = ["a", "a", "b", "b", "a"]
    assert [job.host_owner(r, boots, boots[r], None) for r in range(5)] == [True, False, True, False, False]
    assert job.host_owner(3, None, "x", 0) and not job.host_owner(3, None, "x", 1)
    assert job.host_owner(3, None, "x", None)  # no local rank known: measure, the merge keeps the lowest


# -- merging partial records -------------------------------------------------------------------


def _part(rank: int, boot: str, channels: dict[str, float], *, restart: int = 0, status: str = "finished",
          size: int = 2, host: str = "h") -> dict:
    chans = {n: {"name": n, "component": n.split(":")[0], "method": "counter", "band": 0.05, "energy_j": e,
                 "in_total": True, "detail": "", "emissions_g": e / 100} for n, e in channels.items()}
    total = sum(channels.values())
    return {"id": f"r{restart}{rank}", "name": "train", "status": status, "start_utc": 1000.0 + 100 * restart,
            "end_utc": 1050.0 + 100 * restart, "duration_s": 50.0, "energy_j": total, "host": host,
            "emissions_g": total / 100, "market_emissions_g": None, "channels": chans, "faults": [],
            "job": {"id": "J", "rank": rank, "world_size": size, "boot_id": boot, "restart": restart,
                    "election": "environment"}}


def test_merge_counts_each_device_once_and_breaks_down_per_node_and_rank() -> None:
    parts = [
        _part(0, "A", {"cpu:package-0": 10.0, "gpu:GPU-1": 100.0}, size=3),
        _part(1, "A", {"cpu:package-0": 10.5, "gpu:GPU-1": 99.0, "gpu:GPU-2": 80.0}, size=3),  # rank 0 has both
        _part(2, "B", {"cpu:package-0": 7.0}, size=3),
    ]
    view = merge(parts)
    assert view["energy_j"] == pytest.approx(10.0 + 100.0 + 80.0 + 7.0)
    assert view["emissions_g"] == pytest.approx(view["energy_j"] / 100)
    assert set(view["channels"]) == {"h~A/cpu:package-0", "h~B/cpu:package-0", "gpu:GPU-1", "gpu:GPU-2"}
    j = view["job"]
    assert [(n["node"], n["ranks"], n["energy_j"]) for n in j["nodes"]] == [("h~A", [0, 1], 190.0),
                                                                           ("h~B", [2], 7.0)]
    assert [len(p["duplicates"]) for p in j["parts"]] == [0, 2, 0]
    assert view["id"] == merged_id("J") and view["status"] == "finished" and "2 channel reading(s)" in j["method"]
    assert check_run_record(json.loads(json.dumps(view))) is None  # a --json file of a job view reads back
    assert check_run_record({**view, "job": {**j, "rank": "x"}}) == "run.job.rank must be an integer"


def test_merge_adds_restarts_and_flags_missing_ranks() -> None:
    parts = [_part(0, "A", {"cpu:package-0": 4.0}), _part(1, "A", {}, status="killed"),
             _part(0, "A", {"cpu:package-0": 6.0}, restart=1)]  # rank 1 of the restart never came back
    view = merge(parts)
    assert view["energy_j"] == pytest.approx(10.0) and view["job"]["restarts"] == 2
    assert view["start_utc"] == 1000.0 and view["end_utc"] == 1150.0
    assert any("rank(s) 1 of 2" in f["message"] for f in view["faults"])
    assert not complete(parts) and complete(parts[:2])


# -- real trackers as ranks, one store ---------------------------------------------------------


def _rank(monkeypatch: pytest.MonkeyPatch, rank: int, local: int, size: int) -> None:
    for k, v in {"RANK": rank, "LOCAL_RANK": local, "WORLD_SIZE": size, "TORCHELASTIC_RUN_ID": "t1"}.items():
        monkeypatch.setenv(k, str(v))


def test_ranks_in_one_process_elect_by_local_rank_and_the_last_one_merges(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_tree(tmp_path / "rapl", packages=2)
    db = tmp_path / "db.sqlite"
    trackers = []
    for rank in (0, 1):
        _rank(monkeypatch, rank, rank, 2)
        t = wattprint.Tracker(rapl_root=str(root), store=str(db), country="FR", sensors="rapl")
        t.start()
        trackers.append(t)
    set_uj(root, "intel-rapl:0", 3_000_000)
    set_uj(root, "intel-rapl:1:0", 500_000)
    runs = [t.stop() for t in trackers]
    assert [r.energy_j for r in runs] == [pytest.approx(3.5), 0.0]  # rank 1 measured nothing of the host
    assert runs[1].availability[-1].sensor == "job rank 1/2" and "another rank" in runs[1].availability[-1].detail
    store = SqliteStore.open(db)
    view = store.get_run(merged_id("torchelastic:t1"))  # merged by rank 1, the last to stop
    assert view["energy_j"] == pytest.approx(3.5) and view["job"]["ranks_seen"] == 2
    assert len(partials(store, "torchelastic:t1")) == 2
    rank0 = store.get_run(runs[0].id)
    assert rank0["job"]["rank"] == 0 and rank0["job"]["owns_host"] is True and rank0["job"]["boot_id"]


def _job_of_two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_id: str, uj: int) -> None:
    root = make_tree(tmp_path / run_id, packages=1)
    trackers = []
    for rank in (0, 1):
        _rank(monkeypatch, rank, rank, 2)
        monkeypatch.setenv("TORCHELASTIC_RUN_ID", run_id)
        trackers.append(wattprint.Tracker("fit", rapl_root=str(root), store=str(tmp_path / "db.sqlite"),
                                          country="FR", sensors="rapl"))
        trackers[-1].start()
    set_uj(root, "intel-rapl:0", uj)
    for t in trackers:
        t.stop()


def test_compare_by_name_takes_each_job_once_and_the_report_says_how_devices_were_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _job_of_two(tmp_path, monkeypatch, "first", 2_000_000)
    _job_of_two(tmp_path, monkeypatch, "second", 4_000_000)
    out = wp("compare", "--name", "fit", "--format", "json", "--db", str(tmp_path / "db.sqlite"))
    assert out.returncode == 0, out.stderr
    (group,) = json.loads(out.stdout)["groups"]
    assert group["n"] == 2 and set(group["ids"]) == {merged_id("torchelastic:first"), merged_id("torchelastic:second")}
    view = SqliteStore.open(tmp_path / "db.sqlite").get_run(merged_id("torchelastic:second"))
    report = build_report(view)
    said = " ".join(report["methodology"])
    assert "Distributed job of 2 rank(s) on 1 node(s)" in said and "counted once" in said
    assert report["totals"]["energy_kwh"] == pytest.approx(4.0 / 3.6e6)


def test_ranks_with_no_shared_id_warn_and_measure_as_plain_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    t = wattprint.Tracker(rapl_root=str(make_tree(tmp_path / "rapl")), store=False, country="FR", sensors="rapl")
    with pytest.warns(wattprint.WattprintWarning, match="rank 1 of 2 .*WATTPRINT_JOB"):
        t.start()
    assert t.stop().to_dict()["job"] is None and t.job is None
    monkeypatch.setenv("WATTPRINT_JOB", "mine")  # the fix the warning names
    t = wattprint.Tracker(rapl_root=str(tmp_path / "rapl"), store=False, country="FR", sensors="rapl")
    t.start()
    assert t.stop().to_dict()["job"]["id"] == "mine"


def test_merge_cli_shows_the_job_and_refuses_an_unknown_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_tree(tmp_path / "rapl", packages=1)
    db = tmp_path / "db.sqlite"
    boot = tmp_path / "boot"
    boot.write_text("evil\x1b[31m-boot\n")  # what reaches the terminal is escaped
    _rank(monkeypatch, 0, 0, 2)
    t = wattprint.Tracker(rapl_root=str(root), store=str(db), country="FR", sensors="rapl", boot_id_file=str(boot))
    t.start()
    set_uj(root, "intel-rapl:0", 2_000_000)
    t.stop()  # rank 1 never ran: nothing merged automatically
    store = SqliteStore.open(db)
    assert len(store.list_runs()) == 1
    out = wp("merge", "torchelastic:t1", "--db", str(db))
    assert out.returncode == 0, out.stderr
    assert "per node:" in out.stdout and "per rank:" in out.stdout and "\x1b" not in out.stdout
    view = store.get_run(merged_id("torchelastic:t1"))
    assert view["energy_j"] == pytest.approx(2.0) and "rank(s) 1 of 2" in json.dumps(view["faults"])
    shown = wp("show", view["id"], "--db", str(db))
    assert "counted once:" in shown.stdout
    listed = wp("runs", "--db", str(db))
    assert "[rank 0/2 of job torchelastic:t1]" in listed.stdout and "1 ranks, 1 node(s)]" in listed.stdout
    bad = wp("merge", "nope", "--db", str(db))
    assert bad.returncode == 2 and "no job 'nope'" in bad.stderr and bad.stderr.count("\n") == 1
