"""``wattprint whatif``: a stored run's emissions on other grids, PUEs and start times, checked
against hand arithmetic (energy × g/kWh × PUE), through the real CLI and store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import wattprint as wp
from fake_rapl import make_tree, set_uj
from wattprint.intensity import static
from wattprint.intensity.base import Intensity
from wattprint.report.whatif import Scenario, whatif
from wattprint.tracking.measure import Interval

SRC = str(Path(__file__).resolve().parents[1] / "src")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=SRC), timeout=60)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, wp.Run]:
    rapl = make_tree(tmp_path / "pc")
    db = tmp_path / "w.db"
    t = wp.Tracker("job <b>\x1b[31m", rapl_root=rapl, store=db, gpus="none", country="FR", pue=1.2,
                   interval=0.02)
    t.start()
    for k in range(1, 6):
        set_uj(rapl, "intel-rapl:0", k * 7_000_000)  # 7 J a step on the package
        time.sleep(0.03)
    run = t.stop()
    deadline = time.monotonic() + 10
    while Path(f"{db}-wal").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return db, run


def _rows(db: Path, *args: str) -> list[dict[str, Any]]:
    r = cli("whatif", "--db", str(db), "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["rows"]


def test_another_country_changes_only_the_grid(stored: tuple[Path, wp.Run]) -> None:
    db, run = stored
    assert run.energy_j > 30  # the package's 35 J (and whatever DRAM read)
    rows = _rows(db, "--country", "DE", "--region", "US-CA")
    measured, de, ca = rows
    assert measured["scenario"] == "as measured" and measured["emissions_g"] == pytest.approx(run.emissions_g)
    for row, code in ((de, "DE"), (ca, "US-CA")):
        g = static.grid(code).g_per_kwh  # type: ignore[union-attr]
        assert row["location"] == code
        assert row["pue"] == 1.2  # the run's own site: only the grid moves
        assert row["emissions_g"] == pytest.approx(run.energy_j / 3.6e6 * g * 1.2, rel=1e-9)
        assert row["change"] == pytest.approx(row["emissions_g"] / run.emissions_g - 1, rel=1e-9)
        assert row["low_g"] == pytest.approx(row["emissions_g"] * (1 - run.band))
        assert row["high_g"] == pytest.approx(row["emissions_g"] * (1 + run.band))


def test_a_cloud_region_brings_its_grid_and_the_providers_pue(stored: tuple[Path, wp.Run]) -> None:
    db, run = stored
    (_, row) = _rows(db, "--cloud", "gcp:europe-north1")
    region = static.cloud_region("gcp", "europe-north1")
    assert region is not None
    g = static.grid(region.grid).g_per_kwh  # type: ignore[union-attr]
    pue = static.pue_defaults()["gcp"].pue
    assert row["pue"] == pue and row["location"] == region.grid
    assert row["emissions_g"] == pytest.approx(run.energy_j / 3.6e6 * g * pue, rel=1e-9)


def test_another_pue_and_a_shift_without_hourly_data(stored: tuple[Path, wp.Run]) -> None:
    db, run = stored
    (_, pue, shift) = _rows(db, "--pue", "1.5", "--shift", "6")
    assert pue["emissions_g"] == pytest.approx(run.emissions_g / 1.2 * 1.5, rel=1e-9)
    assert shift["emissions_g"] == pytest.approx(run.emissions_g, rel=1e-9)
    assert "changes nothing" in shift["note"]


def test_the_table_escapes_the_run_name(stored: tuple[Path, wp.Run]) -> None:
    db, _ = stored
    r = cli("whatif", "--db", str(db), "--country", "SE")
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and "job <b>" in r.stdout and "country SE" in r.stdout
    assert "Sources:" in r.stdout


@pytest.mark.parametrize(("args", "words"), [
    (["--pue", "0.5"], "--pue 0.5"),
    (["--pue", "nan"], "--pue nan"),
    (["--shift", "inf"], "--shift inf"),
    (["--cloud", "aws"], "PROVIDER:REGION"),
    (["--country", "ZZ"], "ZZ"),
    (["nosuchrun"], "nosuchrun"),
])
def test_bad_scenarios_are_one_line_exit_2(stored: tuple[Path, wp.Run], args: list[str], words: str) -> None:
    db, _ = stored
    r = cli("whatif", "--db", str(db), *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and words in r.stderr and "Traceback" not in r.stderr


def test_a_shift_reprices_each_interval_at_its_new_hour() -> None:
    """Two hours of a live series (100 then 300 g/kWh) and an annual 200: a run of four
    15-minute intervals in the first hour, 1 kWh each, moved by 30 and by 90 minutes."""
    h0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600
    own = Intensity(200.0, "annual", "XX", 2025, False, 1.0, "personal", [], [],
                    series=[(h0, h0 + 3600, 100.0, "actual"), (h0 + 3600, h0 + 7200, 300.0, "actual")])
    kwh = 3.6e6
    timeline = [Interval(i * 900.0, (i + 1) * 900.0, h0 + i * 900.0, {"cpu:package-0": kwh}) for i in range(4)]
    run = {"energy_j": 4 * kwh, "band": 0.05, "emissions_g": 400.0, "intensity": own.to_dict(),
           "channels": {"cpu:package-0": {"in_total": True}}}
    scenarios = [Scenario("0", own), Scenario("+30m", own, 1800.0), Scenario("+90m", own, 5400.0)]
    rows = whatif(run, lambda: timeline, scenarios)
    assert [r["emissions_g"] for r in rows] == pytest.approx([400.0, 400.0, 800.0, 1000.0])
    # +30 min: midpoints at 37.5, 52.5 (hour 0: 100) and 67.5, 82.5 min (hour 1: 300)
    # +90 min: two intervals in hour 1 (300), two past the series (annual 200), and said so
    assert rows[2]["note"] == ""
    assert rows[3]["note"].startswith("50% of the energy fell outside the stored hourly series")
    assert rows[3]["change"] == pytest.approx(1000.0 / 400.0 - 1)
