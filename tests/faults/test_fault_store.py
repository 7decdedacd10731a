"""The database under stress: first use by many processes, read-only media, damage, deletion,
a full disk, outputs aimed at it, and the privacy of what it holds."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from faultkit import (
    TIMEOUT_S,
    env,
    mount_tmpfs,
    python,
    remount_read_only,
    stored_energy,
    stored_runs,
    unmount,
    wait_until,
    wattprint,
)

import wattprint as wp
from fake_rapl import make_tree, set_uj
from wattprint.store import schema as store_mod
from wattprint.store.sqlite import SqliteStore

READERS = [["runs"], ["show", "last"], ["report", "last"], ["export"], ["export", "last", "--format", "csv"],
           ["compare", "--name", "r"]]


@pytest.fixture
def rapl(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "pc")


def _record(rapl: Path, db: Path, name: str = "r", **kw: object) -> wp.Run:
    t = wp.Tracker(name, rapl_root=rapl, store=db, gpus="none", country="FR", interval=0.01, **kw)  # type: ignore[arg-type]
    t.start()
    set_uj(rapl, "intel-rapl:0", 1_000_000 + int(time.monotonic() * 1000))
    time.sleep(0.05)
    run = t.stop()
    _until(lambda: not Path(f"{db}-wal").exists())  # the store's writer thread has closed the file
    return run


def _until(done: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def _with_db(args: list[str], db: Path) -> list[str]:
    """``--db DB`` among the options, before any ``-- CMD``."""
    at = args.index("--") if "--" in args else len(args)
    return [*args[:at], "--db", str(db), *args[at:]]


def _one_line_error(r: object) -> str:
    err = r.stderr  # type: ignore[attr-defined]
    assert r.returncode == 2, (r.returncode, err)  # type: ignore[attr-defined]
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_ten_processes_first_using_a_new_database_all_run(tmp_path: Path, rapl: Path) -> None:
    db = tmp_path / "new" / "runs.db"
    procs = [
        subprocess.Popen([sys.executable, "-m", "wattprint.cli.main", "run", "-q", "--db", str(db),
                          "--rapl-root", str(rapl), "--country", "FR", "--", sys.executable, "-c", "pass"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
        for _ in range(10)
    ]
    results = [p.communicate(timeout=TIMEOUT_S) + (p.returncode,) for p in procs]
    assert [rc for _, _, rc in results] == [0] * 10, [err for _, err, rc in results if rc]
    assert len(stored_runs(db)) == 10
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == store_mod.SCHEMA_VERSION


def test_an_upgrade_failing_part_way_leaves_the_old_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.executescript(store_mod.MIGRATIONS[0])
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    broken = [*store_mod.MIGRATIONS, "CREATE TABLE half_done (x INTEGER); CREATE TABLE (oops"]
    monkeypatch.setattr(store_mod, "MIGRATIONS", broken)
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", len(broken))
    with pytest.raises(sqlite3.Error):
        store_mod.migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "baselines" not in tables and "half_done" not in tables  # steps 2.. all rolled back
    cols = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
    assert "attribution" not in cols
    monkeypatch.undo()
    assert store_mod.migrate(conn) == 1  # and the real upgrade still works afterwards
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store_mod.SCHEMA_VERSION


KILLED_MID_UPGRADE = """
import sqlite3, sys, time
from wattprint.store import schema as store
conn = sqlite3.connect(sys.argv[1])
conn.create_function("pause", 0, lambda: (print("mid-upgrade", flush=True), time.sleep(60)))
store.MIGRATIONS.append("CREATE TABLE half_done (x INTEGER); SELECT pause()")
store.migrate(conn)
"""


def test_an_upgrade_killed_part_way_leaves_the_old_version(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(store_mod.MIGRATIONS[0])
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    p = python(KILLED_MID_UPGRADE, str(db))
    assert p.stdout is not None and p.stdout.readline() == "mid-upgrade\n", p.communicate(timeout=TIMEOUT_S)
    p.kill()
    p.communicate(timeout=TIMEOUT_S)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master")} >= {"runs"}
    assert not {"baselines", "half_done"} & {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    SqliteStore.open(db).close()  # the next opening upgrades it properly
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == store_mod.SCHEMA_VERSION


@pytest.fixture
def read_only_db(tmp_path: Path, rapl: Path) -> Iterator[Path]:
    mnt = tmp_path / "ro"
    reason = mount_tmpfs(mnt, "4m")
    if reason is None:
        try:
            db = mnt / "runs.db"
            _record(rapl, db)
            _record(rapl, db)
            remount_read_only(mnt)
            yield db
        finally:
            unmount(mnt)
        return
    if os.geteuid() != 0:  # an ordinary user cannot write a 0555 directory or a 0444 file
        mnt.mkdir()
        db = mnt / "runs.db"
        _record(rapl, db)
        _record(rapl, db)
        db.chmod(0o444)
        mnt.chmod(0o555)
        try:
            yield db
        finally:
            mnt.chmod(0o755)
        return
    pytest.skip(f"no read-only place to test with: {reason}")


@pytest.mark.parametrize("args", READERS, ids=lambda a: " ".join(a))
def test_reading_commands_work_on_read_only_media(read_only_db: Path, args: list[str]) -> None:
    r = wattprint(*_with_db(args, read_only_db))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and r.stdout


def test_writing_to_read_only_media_is_one_line_before_the_work(read_only_db: Path, rapl: Path) -> None:
    r = wattprint(*_with_db(["run", "--rapl-root", str(rapl), "--", sys.executable, "-c", "print('ran')"],
                            read_only_db))
    assert "ran" not in r.stdout
    assert "cannot use database" in _one_line_error(r)


def test_read_only_media_with_a_leftover_wal_shows_what_the_wal_holds(tmp_path: Path, rapl: Path) -> None:
    """A database copied (or left) on read-only media with its ``-wal``: the last transactions
    live only in the WAL, and ``immutable=1`` alone would not see them."""
    mnt = tmp_path / "ro"
    reason = mount_tmpfs(mnt, "4m")
    if reason is not None:
        pytest.skip(f"no read-only mount to test with: {reason}")
    try:
        src = tmp_path / "src.db"
        _record(rapl, src)
        writer = sqlite3.connect(src)
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("UPDATE runs SET name = 'renamed-in-the-wal'")
        writer.commit()
        wal = Path(f"{src}-wal")
        assert wal.stat().st_size > 0
        (mnt / "runs.db").write_bytes(src.read_bytes())
        (mnt / "runs.db-wal").write_bytes(wal.read_bytes())
        writer.close()
        remount_read_only(mnt)
        r = wattprint("runs", "--db", str(mnt / "runs.db"))
        assert r.returncode == 0, r.stderr
        assert "renamed-in-the-wal" in r.stdout, r.stdout
        assert (mnt / "runs.db-wal").stat().st_size > 0  # nothing was written on the medium
    finally:
        unmount(mnt)


def _damage(db: Path, keep_first_page: bool) -> None:
    size = db.stat().st_size
    start = 4096 if keep_first_page else 0
    with open(db, "r+b") as fh:
        fh.seek(start)
        fh.write(os.urandom(size - start))


@pytest.mark.parametrize("keep_first_page", [True, False], ids=["garbage-pages", "garbage-header"])
def test_a_damaged_database_is_one_line_exit_2(tmp_path: Path, rapl: Path, keep_first_page: bool) -> None:
    db = tmp_path / "damaged.db"
    for _ in range(3):
        _record(rapl, db)
    assert db.stat().st_size > 4096 * 4 and not Path(f"{db}-wal").exists()
    _damage(db, keep_first_page)
    for args in READERS:
        err = _one_line_error(wattprint(*_with_db(args, db)))
        assert "damaged" in err or "not a database" in err or "malformed" in err, (args, err)


def test_outputs_never_overwrite_the_database(tmp_path: Path, rapl: Path) -> None:
    db = tmp_path / "keep.db"
    _record(rapl, db)
    before = db.read_bytes()
    link = tmp_path / "link.json"
    link.symlink_to(db)
    hard = tmp_path / "hard.json"
    os.link(db, hard)
    attempts = [
        ["run", "--rapl-root", str(rapl), "--json", str(db), "--", sys.executable, "-c", "print('ran')"],
        ["run", "--no-store", "--rapl-root", str(rapl), "--json", f"{db}-wal", "--", "true"],
        ["report", "last", "-o", str(db)],
        ["report", "last", "-o", str(link)],
        ["export", "-o", str(hard)],
        ["compare", "--name", "r", "-o", f"{db}-shm"],
    ]
    for args in attempts:
        r = wattprint(*_with_db(args, db))
        assert "refusing to write" in _one_line_error(r), args
        assert "ran" not in r.stdout
    assert db.read_bytes() == before and len(stored_runs(db)) == 1


def test_new_files_are_private_whatever_the_umask(tmp_path: Path, rapl: Path) -> None:
    db = tmp_path / "fresh" / "runs.db"
    old = os.umask(0)
    try:
        t = wp.Tracker("p", rapl_root=rapl, store=db, gpus="none", country="FR", interval=0.01)
        t.start()
        try:
            files = (db.parent, db, Path(f"{db}-wal"), Path(f"{db}-shm"))
            _until(lambda: all(f.exists() for f in files))  # opened by the store's writer thread
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (db.parent, db, Path(f"{db}-wal"),
                                                                     Path(f"{db}-shm"))}
        finally:
            t.stop()
    finally:
        os.umask(old)
    assert modes == {"fresh": 0o700, "runs.db": 0o600, "runs.db-wal": 0o600, "runs.db-shm": 0o600}
    shared = tmp_path / "shared.db"
    shared.touch(mode=0o644)
    shared.chmod(0o644)
    _record(rapl, shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644  # an existing file keeps the mode it was given


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_database_deleted_or_replaced_mid_run_gets_the_whole_run(tmp_path: Path, rapl: Path, how: str) -> None:
    db, other = tmp_path / "gone.db", tmp_path / "other.db"
    if how == "replaced":
        _record(rapl, other, "restored-from-backup")
    t = wp.Tracker("survivor", rapl_root=rapl, store=db, gpus="none", country="FR", interval=0.01,
                   flush_every_s=0.05)
    run = t.start()
    set_uj(rapl, "intel-rapl:0", 2_000_000)
    wait_until(lambda: run.id in stored_energy(db), "the run's header")  # the writer watches this file now
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    if how == "replaced":
        os.replace(other, db)
    time.sleep(0.2)
    with pytest.warns(wp.WattprintWarning, match=f"{how} .*while in use"):
        t.stop()
    runs = {r["name"]: r for r in stored_runs(db)}
    got = runs["survivor"]
    assert got["id"] == run.id and got["status"] == "finished"
    assert got["duration_s"] == pytest.approx(run.duration_s)
    assert len(got["timeline"]) == len(run.timeline)
    assert any(how in f["message"] for f in got["faults"])
    assert set(runs) == ({"survivor", "restored-from-backup"} if how == "replaced" else {"survivor"})


FILL = """
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
try:
    while os.write(fd, bytes(4096)):
        pass
except OSError:  # ENOSPC: the disk is full now
    pass
time.sleep(0.3)
"""


def test_a_full_disk_is_a_fault_of_the_run_and_the_run_still_reaches_json(tmp_path: Path, rapl: Path) -> None:
    mnt = tmp_path / "small"
    reason = mount_tmpfs(mnt, "512k")
    if reason is not None:
        pytest.skip(f"full-disk test needs a small tmpfs: {reason}")
    try:
        db, out = mnt / "runs.db", tmp_path / "run.json"
        # the run starts on a working database; its command then fills the disk
        r = wattprint("run", "--db", str(db), "--rapl-root", str(rapl), "--country", "FR", "--interval", "0.02",
                      "--json", str(out), "--", sys.executable, "-c", FILL, str(mnt / "filler"))
        assert r.returncode == 0, r.stderr
        data = json.loads(out.read_text())
        assert data["status"] == "finished" and data["duration_s"] >= 0.3
        store_faults = [f["message"] for f in data["faults"] if f["source"] == "store"]
        assert any("full" in m for m in store_faults), data["faults"]
        assert "full" in r.stderr  # and the summary says so
        # a library run whose progress flushes fail mid-way keeps those faults too
        (mnt / "filler").unlink()
        t = wp.Tracker("lib", rapl_root=rapl, store=mnt / "lib.db", gpus="none", country="FR", interval=0.01,
                       flush_every_s=0.05)
        run = t.start()
        subprocess.run([sys.executable, "-c", FILL, str(mnt / "filler")], timeout=TIMEOUT_S, check=True)
        with pytest.warns(wp.WattprintWarning):
            t.stop()
        assert run.duration_s >= 0.3 and any("full" in f.message for f in run.faults if f.source == "store")
    finally:
        unmount(mnt)
