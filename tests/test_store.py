"""The stores: round trip, migrations, progress flushes, killed runs, bad paths.

The tests taking ``store_target`` run on SQLite and on a real PostgreSQL server alike.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import wattprint
from fake_rapl import make_tree, set_uj
from store_fixtures import raw
from wattprint.store.open import open_store
from wattprint.store.sqlite import SCHEMA_VERSION, SqliteStore, StoreError, migrate


def test_round_trip_of_a_finished_run(tmp_path: Path, store_target: str) -> None:
    rapl = make_tree(tmp_path / "pc", packages=1)
    db = store_target
    t = wattprint.Tracker("rt", rapl_root=rapl, store=db, gpus="none", country="FR",
                          interval=0.02, tags={"lr": "0.1"})
    run = t.start()
    set_uj(rapl, "intel-rapl:0", 2_000_000)
    with run.window("w1"):
        set_uj(rapl, "intel-rapl:0", 5_000_000)
    run = t.stop()
    store = open_store(db)
    got = store.get_run(run.id[:6])
    live = run.to_dict()
    for key in ("id", "name", "status", "duration_s", "energy_j", "emissions_g", "tags"):
        assert got[key] == pytest.approx(live[key]) if isinstance(live[key], float) else got[key] == live[key]
    assert got["channels"]["cpu:package-0"]["energy_j"] == pytest.approx(5.0)
    assert got["channels"]["cpu:package-0"]["method"] == "counter"
    assert got["intensity"]["location"] == "FR"
    assert got["windows"][0]["name"] == "w1"
    assert got["windows"][0]["energy_j"] == pytest.approx(3.0)
    assert len(got["timeline"]) == len(live["timeline"])
    tl_sum = sum(iv["energy_j"]["cpu:package-0"] for iv in got["timeline"])
    assert tl_sum == pytest.approx(5.0)
    assert store.list_runs()[0]["id"] == run.id
    assert store.resolve_id("last") == run.id
    with pytest.raises(StoreError, match="no run with id"):
        store.get_run("zzzz")
    if not db.startswith("postgresql://"):
        assert raw(db, "PRAGMA journal_mode")[0][0] == "wal"


def test_schema_version_and_migration_from_empty(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db")
    assert migrate(conn) == 0
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert migrate(conn) == SCHEMA_VERSION  # idempotent
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(sqlite3.DatabaseError, match="newer"):
        migrate(conn)


def _stored_energy_j(db: str, run_id: str) -> float | None:
    """The run's stored energy, by a plain read (never creates or migrates the database)."""
    if not db.startswith("postgresql://") and not Path(db).exists():
        return None
    try:
        rows = raw(db, "SELECT energy_j FROM runs WHERE id=?", (run_id,))
    except Exception:  # tables not created yet
        return None
    return float(rows[0][0]) if rows else None


def test_progress_is_flushed_while_running_and_a_dead_writer_reads_as_killed(
    tmp_path: Path, store_target: str
) -> None:
    rapl = make_tree(tmp_path / "pc", packages=1)
    db = store_target
    t = wattprint.Tracker("long", rapl_root=rapl, store=db, gpus="none", country="FR",
                          interval=0.01, flush_every_s=0.05)
    run = t.start()
    set_uj(rapl, "intel-rapl:0", 1_000_000)
    import time

    time.sleep(0.3)
    deadline = time.monotonic() + 20  # written on the store's own thread: wait for the flush
    while not _stored_energy_j(db, run.id) == pytest.approx(1.0):
        assert time.monotonic() < deadline, "no flush reached the store"
        time.sleep(0.02)
    mid = open_store(db).get_run(run.id)
    assert mid["status"] == "running"
    assert len(mid["timeline"]) > 0
    assert mid["energy_j"] == pytest.approx(1.0)
    # pretend the writer died: a pid that cannot exist
    raw(db, "UPDATE runs SET pid=? WHERE id=?", (2**22 + 12345, run.id))
    assert open_store(db).get_run(run.id)["status"] == "killed"
    t.stop()


def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot use database"):
        SqliteStore.open(blocker / "sub" / "runs.db")


def test_sigterm_to_a_tracked_python_program_stores_the_run(tmp_path: Path) -> None:
    """A library user's process killed by SIGTERM still leaves a finished record, and dies of SIGTERM."""
    import os
    import signal
    import subprocess
    import sys

    rapl = make_tree(tmp_path / "pc", packages=1)
    db = tmp_path / "t.db"
    code = (
        "import time, wattprint\n"
        f"t = wattprint.Tracker('victim', rapl_root={str(rapl)!r}, store={str(db)!r}, gpus='none', country='FR')\n"
        "t.start()\nprint('ready', flush=True)\ntime.sleep(120)\n"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, PYTHONPATH=src))
    assert p.stdout is not None and p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) == -signal.SIGTERM
    run = SqliteStore.open(db).list_runs()[0]
    assert run["name"] == "victim" and run["status"] == "interrupted"
    assert run["end_utc"] is not None


def test_owner_and_project_are_stored_with_the_run(tmp_path: Path, store_target: str) -> None:
    rapl = make_tree(tmp_path / "pc", packages=1)
    for owner, project in (("ann", "llm"), (None, "vision")):
        t = wattprint.Tracker("team", rapl_root=rapl, store=store_target, gpus="none", country="FR",
                              project=project, owner=owner)
        t.start()
        live = t.stop().to_dict()
        assert live["project"] == project
    store = open_store(store_target)
    (ann,) = store.list_runs(owner="ann")
    assert ann["project"] == "llm" and store.get_run(ann["id"])["owner"] == "ann"
    (vision,) = store.list_runs(project="vision")
    import getpass

    assert vision["owner"] == getpass.getuser()  # who ran it, unless set
    assert store.list_runs(project="llm", owner="bob") == []
    assert [r["project"] for r in store.list_runs()] == ["vision", "llm"]
