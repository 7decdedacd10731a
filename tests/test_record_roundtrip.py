"""One run record: a run on fake RAPL → real SQLite or PostgreSQL → read back → report, nothing lost.

``Run.to_dict()`` and the store's ``get_run()`` must give the same record
(the TypedDicts of :mod:`wattprint.tracking.record`), windows included, and
every report built from either must be the same.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import wattprint
from fake_rapl import make_tree, set_uj
from wattprint.report.schema import build_report
from wattprint.store.open import open_store
from wattprint.store.schema import MIGRATIONS
from wattprint.store.sqlite import SqliteStore
from wattprint.tracking import record
from wattprint.tracking.baseline import Baseline

SRC = str(Path(__file__).resolve().parents[1] / "src")
NOW = 1_800_000_000.0


def _keys(td: Any) -> set[str]:
    return set(td.__required_keys__) | set(td.__optional_keys__)


def assert_same(live: Any, stored: Any, path: str = "run") -> None:
    """Equal field by field; floats within a relative 1e-12 (SQLite REAL and JSON keep doubles)."""
    if isinstance(live, float) and isinstance(stored, (int, float)) and not isinstance(stored, bool):
        assert stored == pytest.approx(live, rel=1e-12, abs=1e-12), path
    elif isinstance(live, dict):
        assert isinstance(stored, dict), path
        assert set(stored) == set(live), f"{path}: keys differ {set(stored) ^ set(live)}"
        for k in live:
            assert_same(live[k], stored[k], f"{path}.{k}")
    elif isinstance(live, (list, tuple)):
        assert isinstance(stored, list) and len(stored) == len(live), path
        for i, (a, b) in enumerate(zip(live, stored)):
            assert_same(a, b, f"{path}[{i}]")
    else:
        assert type(stored) is type(live) and stored == live, f"{path}: {live!r} != {stored!r}"


@pytest.fixture
def finished(tmp_path: Path, store_target: str) -> tuple[wattprint.Run, str]:
    """A finished run with nested, overlapping and repeated windows, attribution and a baseline,
    stored in a store of each kind."""
    rapl = make_tree(tmp_path / "pc", packages=2, dram=True)
    db = store_target
    base = Baseline("h", 1_700_000_000.0, 10.0, {"cpu:package-0": 2.0, "dram:package-0": 0.5})
    t = wattprint.Tracker("roundtrip", rapl_root=rapl, store=db, gpus="none", country="FR", pue=1.3,
                          market_g_per_kwh=250.0, interval=0.02, tags={"lr": "0.1"}, process="self",
                          baseline=base, command=["python", "train.py"], budget_kwh=1.0)
    run = t.start()
    uj = {"intel-rapl:0": 0, "intel-rapl:1": 0, "intel-rapl:0:0": 0}

    def burn(joules: float) -> None:
        for zone, share in (("intel-rapl:0", 0.6), ("intel-rapl:1", 0.3), ("intel-rapl:0:0", 0.1)):
            uj[zone] += int(joules * share * 1e6)
            set_uj(rapl, zone, uj[zone])
        time.sleep(0.03)
        run.progress(sum(uj.values()) / 1e6, total=100.0)  # the budget and prediction round-trip too

    burn(4.0)
    with run.window("epoch"):
        burn(10.0)
        with run.window("eval"):
            burn(3.0)
            side = run.open_window("checkpoint")
            run.step(samples=8, tokens=64)  # counted by the run and all three open windows
        burn(2.0)
    burn(1.0)
    side.close()
    with run.window("epoch"):
        burn(7.0)
        run.step(2, samples=16, tokens=128)
    run = t.stop()
    return run, db


def test_the_record_declares_exactly_what_a_run_gives(finished: tuple[wattprint.Run, str]) -> None:
    run, _ = finished
    d = run.to_dict()
    assert set(d) == _keys(record.RunRecord)
    assert set(run.to_dict(with_timeline=False)) == _keys(record.RunRecord) - {"timeline", "timeline_intervals"}
    assert d["timeline_intervals"] == len(d["timeline"])  # a short run: every row as sampled
    assert len(d["windows"]) == 4 and d["attribution"] and d["baseline"] and d["timeline"]
    for w in d["windows"]:
        assert set(w) == _keys(record.WindowRecord)
        for c in w["channels"].values():
            assert set(c) == _keys(record.ChannelRecord)
    for c in d["channels"].values():
        assert set(c) == _keys(record.ChannelRecord)
    for iv in d["timeline"]:
        assert set(iv) == _keys(record.IntervalRecord)
    for st in d["window_stats"].values():
        assert set(st) == _keys(record.WindowStatsRecord)
    for s in d["sensors"]:
        assert set(s) == _keys(record.SensorRecord)
    assert d["attribution"] is not None and set(d["attribution"]) == _keys(record.AttributionRecord)
    for c in d["attribution"]["channels"].values():
        assert set(c) == _keys(record.AttributionChannelRecord)
    assert d["baseline"] is not None and set(d["baseline"]) == _keys(record.BaselineRecord)


def test_a_run_survives_the_store_unchanged_windows_included(finished: tuple[wattprint.Run, str]) -> None:
    run, db = finished
    live = run.to_dict()
    store = open_store(db)
    stored = store.get_run(run.id)
    assert_same(live, stored)
    # what used to be lost on the way back, spelt out
    for lw, sw in zip(live["windows"], stored["windows"]):
        assert sw["band"] == lw["band"] and 0 < sw["band"] < 1
        assert lw["market_emissions_g"] is not None
        assert sw["market_emissions_g"] == lw["market_emissions_g"]
        assert sw["start_utc"] == lw["start_utc"]
    header = {k: v for k, v in live.items()
              if k not in ("channels", "windows", "window_stats", "timeline", "timeline_intervals")}
    assert set(header) == _keys(record.RunHeader)
    assert_same(header, store.list_runs()[0])


def test_the_same_report_from_the_live_and_the_stored_run(finished: tuple[wattprint.Run, str]) -> None:
    run, db = finished
    live = build_report(run.to_dict(), per=100, unit="samples", now=NOW)
    stored = build_report(open_store(db).get_run(run.id), per=100, unit="samples", now=NOW)
    assert_same(live, stored, "report")
    assert json.dumps(live, sort_keys=True) == json.dumps(stored, sort_keys=True)
    # the report's figures are the run's own, not re-derived differently
    assert live["totals"]["band"] == pytest.approx(run.band, rel=1e-12)
    assert live["emissions"]["market_based_g"] == pytest.approx(run.market_emissions_g, rel=1e-12)
    assert [w["name"] for w in live["windows"]] == ["epoch", "eval", "checkpoint", "epoch"]
    assert live["window_groups"][0]["name"] == "epoch" and live["window_groups"][0]["calls"] == 2


def test_windows_stored_before_schema_4_read_back_with_derived_figures(tmp_path: Path) -> None:
    """An old database migrates; its windows get the band from their channels, start from the offset."""
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    for version, script in enumerate(MIGRATIONS[:3]):
        conn.executescript(script)
        conn.execute(f"PRAGMA user_version={version + 1}")
    chans = {
        "cpu:package-0": {"name": "cpu:package-0", "component": "cpu", "method": "counter", "band": 0.05,
                          "energy_j": 30.0, "in_total": True, "detail": "", "emissions_g": 0.1},
        "ram": {"name": "ram", "component": "ram", "method": "modelled", "band": 0.4,
                "energy_j": 10.0, "in_total": True, "detail": "", "emissions_g": 0.03},
        "psys": {"name": "psys", "component": "psys", "method": "counter", "band": 0.9,
                 "energy_j": 50.0, "in_total": False, "detail": "", "emissions_g": 0.2},
    }
    with conn:
        conn.execute("INSERT INTO runs (id, name, status, start_utc, duration_s, energy_j) "
                     "VALUES ('old1', 'old', 'finished', 1700000000.0, 60.0, 40.0)")
        conn.execute("INSERT INTO windows (run_id, seq, name, parent, offset_s, duration_s, energy_j, "
                     "emissions_g, channels) VALUES ('old1', 0, 'w', NULL, 12.5, 5.0, 40.0, 0.13, ?)",
                     (json.dumps(chans),))
    conn.close()
    got = SqliteStore.open(db).get_run("old1")
    (w,) = got["windows"]
    assert w["band"] == pytest.approx((30.0 * 0.05 + 10.0 * 0.4) / 40.0)  # psys not in the total
    assert w["start_utc"] == pytest.approx(1700000000.0 + 12.5)
    assert w["market_emissions_g"] is None
    assert w["energy_kwh"] == pytest.approx(40.0 / 3.6e6)
    assert got["window_stats"]["w"]["calls"] == 1
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_the_record_types_stay_off_the_import_path() -> None:
    code = (
        "import sys, wattprint\n"
        "from wattprint import Tracker, Run, Window, track\n"
        "print([m for m in ('typing', 'wattprint.tracking.record') if m in sys.modules])\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=SRC), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_nan_emissions_of_an_unpriced_window_are_not_invented() -> None:
    """A window's emissions before intensity is known are NaN live and None in the report."""
    rec: Any = {"name": "w", "offset_s": 0.0, "duration_s": 1.0, "energy_j": 1.0, "channels": {},
                "emissions_g": math.nan}
    rep = build_report({"id": "x", "duration_s": 1.0, "channels": {}, "windows": [rec]}, now=NOW)
    assert rep["windows"][0]["emissions_g"] is None


def test_the_json_file_of_wattprint_run_is_the_stored_record(tmp_path: Path) -> None:
    """``wattprint run --json FILE`` writes the record the store reads back, key for key."""
    root = str(make_tree(tmp_path / "pc", packages=1))
    db, out = tmp_path / "r.db", tmp_path / "run.json"
    bump = ("import sys; p = sys.argv[1] + '/intel-rapl:0/energy_uj'; "
            "v = int(open(p).read()); open(p, 'r+').write(str(v + 5000000) + '\\n')")
    r = subprocess.run(
        [sys.executable, "-m", "wattprint.cli.main", "run", "--db", str(db), "--rapl-root", root,
         "--country", "FR", "--json", str(out), "--quiet", "--", sys.executable, "-c", bump, root],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=SRC), timeout=120,
    )
    assert r.returncode == 0, r.stderr
    written = json.loads(out.read_text(encoding="utf-8"))
    assert set(written) == _keys(record.RunRecord) - {"progress"}  # a command counts no steps
    store = SqliteStore.open(db)
    try:
        stored = store.get_run("last")
    finally:
        store.close()
    assert_same(written, stored)
    assert stored["energy_j"] == pytest.approx(5.0)
