"""Long runs: the timeline stays bounded in memory, figures stay exact, reads stream.

Runs here are driven through the real Run, sampler, sinks and SQLite on a fake
clock (tests/synthetic_run.py), so hours of one-second intervals take a second.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from store_fixtures import raw
from synthetic_run import SyntheticRun
from wattprint.intensity.base import Intensity
from wattprint.report.schema import build_report
from wattprint.sinks.base import Sink
from wattprint.sinks.store import StoreSink
from wattprint.store.open import open_store
from wattprint.tracking.measure import Interval
from wattprint.tracking.timeline import COARSE_ROWS, KEEP_RECENT, Timeline, downsample
from wattprint.units import emissions_g

WALL0 = 1_800_000_000.0 + 1234.5  # not on an hour: rows straddle hour boundaries
SRC = str(Path(__file__).resolve().parents[1] / "src")


class Recorder(Sink):
    """Keeps every row the sinks deliver: the timeline as sampled."""

    name = "recorder"

    def __init__(self) -> None:
        self.rows: list[Interval] = []

    def interval(self, run: object, interval: Interval) -> None:
        self.rows.append(interval)


def _hourly(hours: int) -> Intensity:
    """A different figure every hour, so pricing a row in the wrong hour shows."""
    first = (int(WALL0) // 3600) * 3600.0
    return Intensity(300.0, "test", "XX", pue=1.2, market_g_per_kwh=50.0,
                     series=[(first + 3600.0 * h, first + 3600.0 * (h + 1), 100.0 + 37.0 * h, "actual")
                             for h in range(hours + 2)])


def _hour(t: float) -> int:
    return int(t // 3600)


@pytest.fixture(scope="module")
def long_run() -> tuple[SyntheticRun, Recorder]:
    """Eight and a half hours at 1 s: far more rows than the timeline keeps."""
    rec = Recorder()
    s = SyntheticRun(wall0=WALL0, sinks=[rec])
    s.tick(30_600)
    s.stop(_hourly(10))
    return s, rec


def test_the_timeline_holds_a_bounded_number_of_rows(long_run: tuple[SyntheticRun, Recorder]) -> None:
    s, rec = long_run
    assert s.run.timeline.appended == len(rec.rows) == 30_600  # every sampled row
    assert len(s.run.timeline) <= 2 * KEEP_RECENT + COARSE_ROWS
    assert len(s.run.timeline) < len(rec.rows) / 5
    d = s.run.to_dict()
    assert d["timeline_intervals"] == 30_600 and len(d["timeline"]) == len(s.run.timeline)


def test_bound_holds_whatever_the_length() -> None:
    tl = Timeline(keep_recent=16, coarse_rows=32, first_s=4.0)
    sizes = []
    for i in range(40_000):  # 11 hours at 1 s
        tl.append(Interval(float(i), float(i + 1), WALL0 + i, {"a": 1.0}))
        sizes.append(len(tl))
    assert max(sizes) <= 2 * 16 + 2 * 32
    assert sum(iv.energy_j["a"] for iv in tl) == 40_000.0


def test_energy_coverage_and_emissions_stay_exact(long_run: tuple[SyntheticRun, Recorder]) -> None:
    s, rec = long_run
    run = s.run
    for name, c in run.channels.items():
        assert sum(iv.energy_j[name] for iv in run.timeline) == pytest.approx(c.energy_j, rel=1e-12)
        assert sum(iv.energy_j[name] for iv in rec.rows) == pytest.approx(c.energy_j, rel=1e-12)
    assert run.coverage_s == pytest.approx(run.duration_s, rel=1e-12)
    it = run.intensity
    assert it is not None
    expected = {n: 0.0 for n in run.channels}
    for iv in rec.rows:  # priced row by row, as sampled
        g = it.mean_over(iv.wall0, iv.wall0 + (iv.t1_s - iv.t0_s))[0]  # by time overlap
        for n, e in iv.energy_j.items():
            expected[n] += emissions_g(e, g, it.pue)
    for n, c in run.channels.items():
        assert c.emissions_g == pytest.approx(expected[n], rel=1e-12)
    assert len({it.at(iv.wall0) for iv in rec.rows}) >= 8  # the hours really priced differently


def test_merged_rows_never_mix_hours(long_run: tuple[SyntheticRun, Recorder]) -> None:
    s, _ = long_run
    rows = list(s.run.timeline)
    assert any(iv.t1_s - iv.t0_s > 10 * s.interval_s for iv in rows)  # merging happened
    half = s.interval_s / 2
    for iv in rows:  # first and last sampled row of each merged row are priced in one hour
        assert _hour(iv.wall0 + half) == _hour(iv.wall0 + (iv.t1_s - iv.t0_s) - half)
    for a, b in zip(rows, rows[1:]):
        assert b.t0_s == a.t1_s  # contiguous: nothing lost, nothing twice


def _stored_run(db: str, ticks: int, windows: int = 0) -> tuple[SyntheticRun, str]:
    s = SyntheticRun(wall0=WALL0, sinks=[StoreSink(db)])
    for i in range(ticks):
        if windows and i % (ticks // windows) == 0:
            with s.run.window("step"):
                s.clock.advance(0.25)
        s.tick()
    s.stop(_hourly(ticks // 3600 + 1))
    return s, db


def test_the_store_keeps_every_row_and_reads_them_back_streamed(store_target: str) -> None:
    s, db = _stored_run(store_target, 9_000, windows=30)
    store = open_store(db)
    full = store.get_run(s.run.id)
    assert full["timeline_intervals"] == len(full["timeline"]) == s.run.timeline.appended
    for name, c in full["channels"].items():
        assert sum(r["energy_j"][name] for r in full["timeline"]) == pytest.approx(c["energy_j"], rel=1e-12)
    small = store.get_run(s.run.id, max_rows=100)
    assert len(small["timeline"]) <= 100 + 4 and small["timeline_intervals"] == full["timeline_intervals"]
    for name, c in full["channels"].items():
        assert sum(r["energy_j"][name] for r in small["timeline"]) == pytest.approx(c["energy_j"], rel=1e-12)
    report = build_report(small)  # what a Markdown or HTML report of the run is built from
    assert report["coverage"]["intervals"] == 9_000 and len(report["timeline"]["rows"]) == len(small["timeline"])
    assert report["coverage"]["covered_s"] == pytest.approx(full["duration_s"], rel=1e-12)
    light = store.get_run(s.run.id, timeline=False, windows=False)
    assert "timeline" not in light and light["windows"] == []
    assert light["timeline_intervals"] == full["timeline_intervals"]
    assert light["window_stats"] == full["window_stats"] and full["window_stats"]["step"]["calls"] == 30
    store.close()


def _cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args], capture_output=True,
                         timeout=60, env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    return out.stdout.decode()  # as written: CSV lines end in \r\n


def test_streamed_csv_export_equals_the_record_row_by_row(store_target: str) -> None:
    s, db = _stored_run(store_target, 500)
    text = _cli("export", s.run.id, "--format", "csv", "--db", str(db))
    run = open_store(db).get_run(s.run.id)
    buf = io.StringIO()
    w = csv.writer(buf)  # the same table written the plain way from the whole record
    w.writerow(["run_id", "interval", "t0_s", "t1_s", "start_utc", "channel", "component", "method",
                "energy_j"])
    for i, iv in enumerate(run["timeline"]):
        for name, e in iv["energy_j"].items():
            c = run["channels"][name]
            w.writerow([run["id"], i, f"{iv['t0_s']:.6f}", f"{iv['t1_s']:.6f}", f"{iv['start_utc']:.3f}",
                        name, c["component"], c["method"], f"{e:.6f}"])
    assert text == buf.getvalue()
    assert len(text.splitlines()) == 1 + 500 * 4
    shown = _cli("show", s.run.id, "--db", str(db))
    assert "timeline: 500 intervals" in shown


def test_downsampled_reads_keep_hours_energy_and_the_count() -> None:
    rows = [Interval(float(i), float(i + 1), WALL0 + i, {"a": 1.0 + i % 7, "b": 0.5}) for i in range(20_000)]
    out, count = downsample(iter(rows), 50, 20_000.0)
    assert count == 20_000 and len(out) <= 2 * 50
    assert sum(iv.energy_j["a"] for iv in out) == sum(iv.energy_j["a"] for iv in rows)
    assert all(_hour(iv.wall0 + 0.5) == _hour(iv.wall0 + (iv.t1_s - iv.t0_s) - 0.5) for iv in out)
    assert [(a.t1_s, b.t0_s) for a, b in zip(out, out[1:]) if a.t1_s != b.t0_s] == []
    assert rows[0].energy_j == {"a": 1.0, "b": 0.5}  # the rows read are never changed


def test_runs_written_before_the_chunked_layout_read_back_the_same(store_target: str) -> None:
    s, db = _stored_run(store_target, 300)
    store = open_store(db)
    now = store.get_run(s.run.id)
    # the same run as schema 1-4 stored it: a row per channel per interval
    raw(db, "INSERT INTO timeline VALUES (?,?,?,?,?,?,?)",
        many=[(s.run.id, i, r["t0_s"], r["t1_s"], r["start_utc"], ch, e)
              for i, r in enumerate(now["timeline"]) for ch, e in r["energy_j"].items()])
    raw(db, "DELETE FROM timeline_chunks WHERE run_id=?", (s.run.id,))
    store = open_store(db)
    assert store.get_run(s.run.id) == now
    assert store.get_run(s.run.id, timeline=False)["timeline_intervals"] == 300
    store.close()


def test_running_emissions_are_whole_when_the_intensity_comes_after_rows_were_merged() -> None:
    rec = Recorder()
    s = SyntheticRun(wall0=WALL0, sinks=[rec])
    s.tick(3 * KEEP_RECENT)  # the oldest rows are merged before any intensity is known
    assert s.run.timeline.summarised
    it = _hourly(2)
    s.run.intensity = it
    s.tick(10)
    for n, c in s.run.channels.items():
        want = sum(emissions_g(iv.energy_j[n], it.mean_over(iv.wall0, iv.wall0 + (iv.t1_s - iv.t0_s))[0], it.pue)
                   for iv in rec.rows)
        assert c.emissions_g == pytest.approx(want, rel=1e-12)
