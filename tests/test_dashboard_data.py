"""The dashboard's data side, without a server: the chart series on a long stored run, the
filters and the totals.

The long run is driven through the real Run, sinks and SQLite store on a fake
clock (tests/synthetic_run.py, as benchmarks/longrun.py does), with a small
cache so that three hours at 1 s already need the merged path and the
full-resolution re-read on zoom.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from synthetic_run import SyntheticRun
from wattprint.dashboard.query import QueryError, period_start, totals
from wattprint.dashboard.security import host_name
from wattprint.dashboard.series import SeriesCache
from wattprint.dashboard.server import is_loopback
from wattprint.intensity.base import Intensity
from wattprint.sinks.store import StoreSink
from wattprint.store.sqlite import SqliteStore

WALL0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC
HOURS = 3


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("series") / "long.db"
    s = SyntheticRun(wall0=WALL0, watts=(100.0, 250.0, 30.0, 5.0), sinks=[StoreSink(db, wait_s=120)])
    s.tick(HOURS * 3600)
    s.stop(Intensity(56.0, "test", "FR"))
    return db, s.run.id


def _energy_drawn(data: dict[str, Any], rows: list[Any], name: str) -> float:
    return sum(w * sum(r.t1_s - r.t0_s for r in rows if r.t0_s >= a and r.t1_s <= b)
               for (a, b), w in zip(data["t"], data["w"][name]))


def test_whole_run_is_reduced_and_keeps_every_joule(long_run: tuple[Path, str]) -> None:
    db, rid = long_run
    store = SqliteStore.open(db, write=False)
    cache = SeriesCache(store, rows=500)
    run = store.get_run(rid, timeline=False, windows=False)
    rows = list(store.iter_timeline(rid))
    data = cache.series(run, points=300)
    assert data["intervals"] == len(rows) == HOURS * 3600
    assert not data["exact"] and len(data["t"]) <= 300
    for name in run["channels"]:
        assert _energy_drawn(data, rows, name) == pytest.approx(sum(r.energy_j[name] for r in rows), rel=1e-9)
    # steps never cross a UTC hour (downsample's rule), so hourly pricing could be read off them
    for a, b in data["t"]:
        assert int((WALL0 + a) // 3600) == int((WALL0 + b - 1e-6) // 3600)
    store.close()


def test_zoom_reads_full_resolution_when_the_cache_is_too_coarse(long_run: tuple[Path, str]) -> None:
    db, rid = long_run
    store = SqliteStore.open(db, write=False)
    cache = SeriesCache(store, rows=500)
    run = store.get_run(rid, timeline=False, windows=False)
    rows = list(store.iter_timeline(rid))
    near = cache.series(run, t0=3000.0, t1=3300.0, points=1000)
    assert near["exact"] and len(near["t"]) == 300  # one step per stored 1 s interval
    for (a, b), w in zip(near["t"], near["w"]["fake:0"]):
        (row,) = [r for r in rows if r.t0_s == a and r.t1_s == b]
        assert w == pytest.approx(row.energy_j["fake:0"] / (b - a), rel=1e-12)
    wide = cache.series(run, t0=0.0, t1=7200.0, points=100)
    assert not wide["exact"] and wide["t"][0][0] == 0.0 and wide["t"][-1][1] <= 7200.0 + 60
    store.close()


def test_the_cache_follows_a_growing_run(tmp_path: Path) -> None:
    db = tmp_path / "grow.db"
    s = SyntheticRun(wall0=WALL0, sinks=[StoreSink(db, wait_s=60)], flush_every_s=10.0)
    s.tick(100)
    store = SqliteStore.open(db, write=False)
    deadline = time.monotonic() + 30
    while store.count_intervals(s.run.id) < 90:  # the store's writer thread flushes every 10 fake seconds
        assert time.monotonic() < deadline, "the first flushes were not written within 30 s"
        time.sleep(0.05)
    cache = SeriesCache(store, rows=50, runs=1)
    first = cache.series(store.get_run(s.run.id, timeline=False), points=1000)
    s.tick(100)
    s.stop()
    second = cache.series(store.get_run(s.run.id, timeline=False), points=1000)
    assert second["intervals"] > first["intervals"]
    assert second["t"][-1][1] > first["t"][-1][1]
    store.close()


def _header(i: int, **kw: Any) -> dict[str, Any]:
    base = {"id": f"r{i:03d}", "name": "job", "status": "finished", "start_utc": WALL0 + i * 86400.0,
            "energy_j": 3.6e6, "emissions_g": 100.0, "host": "node-a"}
    return {**base, **kw}


def test_totals_per_day_and_iso_week() -> None:
    monday = dt.datetime(2027, 1, 11, tzinfo=dt.timezone.utc).timestamp()
    runs = [_header(i, start_utc=monday + i * 86400.0 + 3600.0, energy_j=3.6e6 * (i + 1),
                    emissions_g=None if i == 8 else 10.0) for i in range(9)]
    days = totals(runs, "day")
    assert [d["runs"] for d in days] == [1] * 9 and days[0]["start_utc"] == monday
    weeks = totals(runs, "week")
    assert [w["start_utc"] for w in weeks] == [monday, monday + 7 * 86400.0]
    assert [w["runs"] for w in weeks] == [7, 2]
    assert weeks[0]["energy_kwh"] == pytest.approx(sum(range(1, 8)))
    assert weeks[1]["emissions_g"] == 10.0 and weeks[1]["unpriced"] == 1
    assert period_start(monday - 1.0, "week") == monday - 7 * 86400.0  # Sunday 23:59:59 is last week
    with pytest.raises(QueryError):
        totals(runs, "month")


@pytest.mark.parametrize("header, name", [("127.0.0.1:8050", "127.0.0.1"), ("LOCALHOST", "localhost"),
                                          ("[::1]:8050", "[::1]"), ("evil.example:80", "evil.example"),
                                          ("[::1].evil.example", "[::1]"), ("", "")])
def test_host_header_names(header: str, name: str) -> None:
    assert host_name(header) == name


@pytest.mark.parametrize("host, loop", [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
                                        ("localhost", True), ("0.0.0.0", False), ("10.0.0.5", False),
                                        ("example.org", False)])
def test_loopback_addresses(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


class CountingStore:
    """The real store, counting the passes over a timeline (each one reads every stored row)."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.passes = 0
        real = store.iter_timeline

        def counted(run_id: str, batch: int = 256, **span: Any) -> Any:
            self.passes += 1
            return real(run_id, batch, **span)

        store.iter_timeline = counted  # type: ignore[method-assign] # the rollup's own reads count too
        self.iter_timeline = counted

    def count_intervals(self, run_id: str) -> int:
        return self.store.count_intervals(run_id)

    def timeline_rollup(self, *args: Any, **kw: Any) -> Any:
        return self.store.timeline_rollup(*args, **kw)


def _without_rollup(db: Path, tmp: Path) -> Path:
    """A copy of the store as written before the rollup existed (its rows deleted)."""
    import shutil
    import sqlite3

    copy = tmp / f"old-{len(list(tmp.iterdir()))}.db"
    shutil.copy(db, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("DELETE FROM timeline_rollup")
    return copy


def test_a_long_run_reads_its_stored_rollup_not_its_rows(long_run: tuple[Path, str]) -> None:
    db, rid = long_run
    store = SqliteStore.open(db, write=False)
    run = store.get_run(rid, timeline=False, windows=False)
    counting = CountingStore(store)
    cache = SeriesCache(counting, rows=500)
    assert cache.warm([run]) == 1 and counting.passes == 0
    data = cache.series(run)
    assert counting.passes == 0 and data["rows"] == HOURS * 60  # one row per minute, none of the 10,800
    store.close()


def test_an_old_run_gets_its_rollup_in_one_pass_and_keeps_it(long_run: tuple[Path, str], tmp_path: Path) -> None:
    db, rid = long_run
    old = _without_rollup(db, tmp_path)
    store = SqliteStore.open(old)
    run = store.get_run(rid, timeline=False, windows=False)
    counting = CountingStore(store)
    cache = SeriesCache(counting, rows=500)
    assert cache.warm([run]) == 1 and counting.passes == 1
    cache.series(run)
    assert counting.passes == 1  # served from the warm-up's rows
    again = CountingStore(SqliteStore.open(old, write=False))
    assert SeriesCache(again, rows=500).series(run)["rows"] == HOURS * 60 and again.passes == 0  # it was kept
    small = SeriesCache(CountingStore(store), rows=HOURS * 3600)
    assert small.warm([run]) == 0  # a run read whole needs no warm-up
    fresh = CountingStore(SqliteStore.open(_without_rollup(db, tmp_path)))
    cache = SeriesCache(fresh, rows=500)
    results: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: results.append(cache.series(run))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 4 and fresh.passes == 1
    assert all(r["t"] == results[0]["t"] for r in results)
    store.close()
