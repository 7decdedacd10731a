"""The stored timeline rollup that the dashboard's chart reads (store/rollup.py), on SQLite and on
a real PostgreSQL server: written with the intervals, built for runs stored before it, and every
rolled-up row mapping back to exactly the stored intervals it sums."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from store_fixtures import raw
from synthetic_run import SyntheticRun
from wattprint.store.open import open_store
from wattprint.store.rollup import STEPS, Rolled
from wattprint.store.sqlite import SCHEMA_VERSION, SqliteStore, connect_read_only
from wattprint.tracking.measure import Interval

WALL0 = 1_800_000_000.0 + 37.5  # not on a minute: buckets start mid-run


def _header() -> dict[str, Any]:
    s = SyntheticRun(wall0=WALL0)
    s.tick(1)
    header: dict[str, Any] = s.run.to_dict(with_timeline=False, with_windows=False)
    return header


def _intervals(n: int, seed: int) -> list[Interval]:
    """``n`` intervals of 0.5-3 s, with a gap now and then (a stalled sampler), two channels."""
    rnd = random.Random(seed)
    out, t = [], 0.0
    for _ in range(n):
        if rnd.random() < 0.03:
            t += rnd.uniform(1.0, 200.0)  # a gap: the next row must start a new rolled-up row
        d = rnd.choice((0.5, 1.0, 1.0, 3.0))
        out.append(Interval(t, t + d, WALL0 + t, {"fake:0": rnd.uniform(0, 300) * d, "fake:1": rnd.uniform(0, 9)}))
        t += d
    return out


def _check_maps_back(rolled: list[Rolled], stored: list[Interval], step: int) -> None:
    """The rows cover every stored position once, in order; each sums its intervals exactly,
    which follow one another without a gap inside one UTC bucket of ``step`` seconds."""
    assert [r.seq for r in rolled] == [0, *[r.end for r in rolled[:-1]]] and rolled[-1].end == len(stored)
    for r in rolled:
        part = stored[r.seq : r.end]
        assert all(b.t0_s == a.t1_s for a, b in zip(part, part[1:]))
        assert len({int(iv.wall0 // step) for iv in part}) == 1
        assert (r.iv.t0_s, r.iv.t1_s, r.iv.wall0) == (part[0].t0_s, part[-1].t1_s, part[0].wall0)
        for name in ("fake:0", "fake:1"):
            total = part[0].energy_j[name]
            for iv in part[1:]:
                total += iv.energy_j[name]
            assert r.iv.energy_j[name] == total  # the same additions in the same order: equal to the bit


def _write(store: Any, header: dict[str, Any], rows: list[Interval], seed: int) -> None:
    rnd = random.Random(seed)
    i = 0
    while i < len(rows):
        k = rnd.randint(1, 40)
        store.save_progress(header, rows[i : i + k])
        i += k
    store.save_final({**header, "status": "finished"})


def test_the_rollup_is_written_with_the_intervals_and_maps_back_exactly(store_target: str) -> None:
    store = open_store(store_target)
    header, rows = _header(), _intervals(3000, seed=1)
    _write(store, header, rows, seed=2)
    stored = list(store.iter_timeline(header["id"]))
    assert len(stored) == len(rows)
    fresh = open_store(store_target)  # another process reading: only what is in the database
    for step in STEPS:
        rolled = fresh.timeline_rollup(header["id"], step)
        _check_maps_back(rolled, stored, step)
        assert len(rolled) < len(rows) / 10
    # a range reads only the rows overlapping it
    rolled = fresh.timeline_rollup(header["id"], 60, 1000.0, 1500.0)
    assert rolled and all(r.iv.t1_s > 1000.0 and r.iv.t0_s < 1500.0 for r in rolled)
    every = fresh.timeline_rollup(header["id"], 60)
    assert len(rolled) == sum(1 for r in every if r.iv.t1_s > 1000.0 and r.iv.t0_s < 1500.0)
    store.close()
    fresh.close()


def test_a_store_reopened_mid_run_continues_the_open_row(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    header, rows = _header(), _intervals(400, seed=3)
    first = SqliteStore.open(db)
    first.save_progress(header, rows[:150])
    first.close()
    second = SqliteStore.open(db)  # forgets the open rows: reads the last one back from the database
    second.save_progress(header, rows[150:])
    stored = list(second.iter_timeline(header["id"]))
    for step in STEPS:
        _check_maps_back(second.timeline_rollup(header["id"], step), stored, step)
    one_writer = SqliteStore.open(tmp_path / "one.db")
    one_writer.save_progress(header, rows)
    assert len(second.timeline_rollup(header["id"], 3600)) == len(one_writer.timeline_rollup(header["id"], 3600))


def test_runs_stored_before_the_rollup_get_it_built_on_read_and_kept_when_writable(store_target: str) -> None:
    store = open_store(store_target)
    header, rows = _header(), _intervals(2000, seed=4)
    _write(store, header, rows, seed=5)
    rid = header["id"]
    written = {step: store.timeline_rollup(rid, step) for step in STEPS}
    raw(store_target, f"DELETE FROM timeline_rollup WHERE run_id='{rid}' AND seq>=300")  # noqa: S608 - test id
    raw(store_target, f"DELETE FROM timeline_rollup WHERE run_id='{rid}' AND step=3600 AND seq<300")  # noqa: S608
    stored = list(store.iter_timeline(rid))
    for step in STEPS:
        built = store.timeline_rollup(rid, step)  # not kept: read and rolled up each time
        _check_maps_back(built, stored, step)
        assert [(r.seq, r.n) for r in built] == [(r.seq, r.n) for r in written[step]]
    assert raw(store_target, f"SELECT COUNT(*) FROM timeline_rollup WHERE run_id='{rid}' AND seq>=300") == [(0,)]  # noqa: S608
    for step in STEPS:
        store.timeline_rollup(rid, step, keep=True)
    kept = raw(store_target, f"SELECT step, COUNT(*) FROM timeline_rollup WHERE run_id='{rid}' GROUP BY step "  # noqa: S608
                             "ORDER BY step")
    assert [(int(s), int(n)) for s, n in kept] == [(s, len(written[s])) for s in STEPS]
    store.close()


def test_a_read_only_store_keeps_nothing(tmp_path: Path) -> None:
    db = tmp_path / "ro.db"
    store = SqliteStore.open(db)
    header, rows = _header(), _intervals(500, seed=6)
    _write(store, header, rows, seed=7)
    store.close()
    raw(str(db), "DELETE FROM timeline_rollup")
    ro = SqliteStore(connect_read_only(db, SCHEMA_VERSION), db, readonly=True)  # as open() gives a read-only file
    built = ro.timeline_rollup(header["id"], 60, keep=True)
    _check_maps_back(built, list(ro.iter_timeline(header["id"])), 60)
    assert raw(str(db), "SELECT COUNT(*) FROM timeline_rollup") == [(0,)]
    ro.close()


def test_iter_timeline_reads_a_range_of_positions(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "t.db")
    header, rows = _header(), _intervals(1000, seed=8)
    _write(store, header, rows, seed=9)
    stored = list(store.iter_timeline(header["id"]))
    for a, b in ((0, 1000), (0, 1), (17, 18), (123, 877), (999, 1000), (500, 500), (990, 5000)):
        part = list(store.iter_timeline(header["id"], start=a, stop=b))
        assert [(iv.t0_s, iv.energy_j) for iv in part] == [(iv.t0_s, iv.energy_j) for iv in stored[a:b]]


def test_db_copy_brings_the_rollup(tmp_path: Path) -> None:
    src = SqliteStore.open(tmp_path / "a.db")
    header, rows = _header(), _intervals(700, seed=10)
    _write(src, header, rows, seed=11)
    dst = SqliteStore.open(tmp_path / "b.db")
    dst.import_run(src.get_run(header["id"]), src.iter_timeline(header["id"]))
    for step in STEPS:
        got = [(r.seq, r.n, r.iv.energy_j) for r in dst.timeline_rollup(header["id"], step)]
        assert got == [(r.seq, r.n, r.iv.energy_j) for r in src.timeline_rollup(header["id"], step)]
    assert raw(str(tmp_path / "b.db"), "SELECT COUNT(*) FROM timeline_rollup")[0][0] > 0


@pytest.mark.parametrize("step", STEPS)
def test_rows_a_writer_commits_between_the_reads_are_read_once(tmp_path: Path, step: int) -> None:
    db = tmp_path / "race.db"
    header, rows = _header(), _intervals(600, seed=12)
    writer = SqliteStore.open(db)
    writer.save_progress(header, rows[:300])
    reader = SqliteStore.open(db, write=False)
    real, raced = reader._tuples, []

    def racing(sql: str, params: tuple[Any, ...] = ()) -> Any:
        out = real(sql, params)
        if "SUM(n)" in sql and not raced:  # the writer's next flush lands right after the rollup's first read
            raced.append(writer.save_progress(header, rows[300:]))
        return out

    reader._tuples = racing  # type: ignore[method-assign]
    got = reader.timeline_rollup(header["id"], step)
    assert raced
    _check_maps_back(got, list(reader.iter_timeline(header["id"])), step)  # each interval once, none twice
    writer.close()
    reader.close()
