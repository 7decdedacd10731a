"""``wattprint when``: greener start times from each provider's forecast (imitations on
127.0.0.1 in the documented shapes), checked against hand arithmetic; offline it says it
cannot forecast and never ranks hours on the annual figure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from live_imitation import Imitation
from wattprint.intensity.forecast import best, starts, window_mean
from wattprint.units import LB_PER_MWH_TO_G_PER_KWH

SRC = str(Path(__file__).resolve().parents[1] / "src")
HALF = 1800.0


@pytest.fixture
def imitation() -> Iterator[Imitation]:
    im = Imitation()
    try:
        yield im
    finally:
        im.close()


def when(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, PYTHONPATH=SRC, **env)
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", "when", *args], capture_output=True,
                          text=True, env=e, timeout=60)


def test_window_means_by_time_overlap() -> None:
    pts = [(0.0, 1800.0, 300.0, "forecast"), (1800.0, 3600.0, 100.0, "forecast"), (3600.0, 5400.0, 200.0, "forecast")]
    assert window_mean(pts, 900.0, 4500.0) == pytest.approx((300 * 900 + 100 * 1800 + 200 * 900) / 3600)
    assert window_mean(pts, 4000.0, 6000.0) is None  # runs past the forecast: not ranked
    found = starts(pts, 600.0, 3600.0, 7200.0)
    # now (600), then the boundaries 1800 and 3600 (3600 + 1 h ends past the forecast)
    assert [s.t for s in found] == [600.0, 1800.0]
    assert found[1].g_per_kwh == pytest.approx(150.0)
    assert best(found, 1)[0].t == 1800.0


def _uk(imitation: Imitation, values: list[float], now: float) -> float:
    h0 = now - now % HALF
    for i, v in enumerate(values):
        imitation.uk[h0 + i * HALF] = (v, None)
    return h0


UK_ENV = {"WATTPRINT_LIVE_PROVIDER": "uk", "WATTPRINT_UK_CARBON_INTENSITY": "1"}


def test_uk_half_hours_rank_the_starts(imitation: Imitation) -> None:
    now = time.time()
    values = [300, 300, 250, 200, 100, 100, 200, 300] + [300] * 88  # 48 hours of half-hours
    h0 = _uk(imitation, values, now)
    r = when("--duration", "1h", "--within", "6h", "--country", "GB", "--kwh", "10", "--json",
             WATTPRINT_UK_CARBON_INTENSITY_URL=imitation.url, **UK_ENV)
    assert r.returncode == 0, r.stderr
    a: dict[str, Any] = json.loads(r.stdout)
    assert imitation.paths("/intensity/") and imitation.paths("/intensity/")[0].endswith("/fw48h")
    assert a["signal"] == "average" and a["basis"]["gas"] == "CO2" and a["location"] == "GB"
    first = a["best"][0]
    assert first["start_utc"] == _iso(h0 + 4 * HALF) and first["g_per_kwh"] == pytest.approx(100.0)
    # now: the rest of this half-hour and the next at 300, then the same length into the 250 one
    f = float(json.loads(r.stdout)["now"]["g_per_kwh"])
    into = _started_at(a) - h0
    assert f == pytest.approx((300 * (3600 - into) + 250 * into) / 3600, rel=1e-6)
    assert first["saving"] == pytest.approx(1 - 100 / f)
    assert first["saved_g"] == pytest.approx(10 * (f - 100))  # 10 kWh × the difference
    assert [b["g_per_kwh"] for b in a["best"]] == sorted(b["g_per_kwh"] for b in a["best"])


def test_electricitymaps_hourly_forecast(imitation: Imitation) -> None:
    now = time.time()
    h = now - now % 3600
    for i, v in enumerate([400, 380, 120, 90, 300, 500]):
        imitation.em_forecast[h + i * 3600] = v
    r = when("--duration", "2h", "--within", "4h", "--country", "DE", "--json",
             ELECTRICITYMAPS_API_KEY="em-key", WATTPRINT_ELECTRICITYMAPS_URL=imitation.url)
    assert r.returncode == 0, r.stderr
    a = json.loads(r.stdout)
    assert a["best"][0]["start_utc"] == _iso(h + 2 * 3600) and a["best"][0]["g_per_kwh"] == pytest.approx(105.0)
    assert a["basis"]["scope"] == "lifecycle"


def test_watttime_forecast_is_marginal_and_converted(imitation: Imitation) -> None:
    now = time.time()
    t0 = now - now % 300
    for i in range(36):  # three hours of five-minute points; the cleanest hour is the second
        imitation.wt_forecast[t0 + i * 300] = 600.0 if 12 <= i < 24 else 1000.0
    r = when("--duration", "1h", "--within", "2h", "--json", WATTTIME_USERNAME="ann", WATTTIME_PASSWORD="s3cret-pw",
             WATTTIME_REGION="CAISO_NORTH", WATTPRINT_WATTTIME_URL=imitation.url, WATTPRINT_COUNTRY="US")
    assert r.returncode == 0, r.stderr
    a = json.loads(r.stdout)
    assert a["signal"] == "marginal" and a["best"][0]["start_utc"] == _iso(t0 + 12 * 300)
    assert a["best"][0]["g_per_kwh"] == pytest.approx(600.0 * LB_PER_MWH_TO_G_PER_KWH)
    text = when("--duration", "1h", "--within", "2h", WATTTIME_USERNAME="ann", WATTTIME_PASSWORD="s3cret-pw",
                WATTTIME_REGION="CAISO_NORTH", WATTPRINT_WATTTIME_URL=imitation.url,
                WATTPRINT_COUNTRY="US")
    assert "marginal (MOER" in text.stdout and "s3cret" not in text.stdout + text.stderr


def test_offline_it_says_it_cannot_forecast() -> None:
    r = when("--duration", "6h", "--country", "FR")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "cannot forecast" in r.stderr
    assert "annual" in r.stderr


def test_a_refusing_provider_is_one_line_without_its_body(imitation: Imitation) -> None:
    imitation.echo = True
    r = when("--duration", "1h", "--country", "DE", ELECTRICITYMAPS_API_KEY="wrong-key-123",
             WATTPRINT_ELECTRICITYMAPS_URL=imitation.url)
    assert r.returncode == 1 and "cannot forecast: Electricity Maps: HTTP 401" in r.stderr
    assert "wrong-key-123" not in r.stderr


def test_a_job_longer_than_the_forecast(imitation: Imitation) -> None:
    _uk(imitation, [200.0] * 8, time.time())  # four hours only
    r = when("--duration", "6h", "--country", "GB", WATTPRINT_UK_CARBON_INTENSITY_URL=imitation.url, **UK_ENV)
    assert r.returncode == 1 and "too soon for a 6 h job" in r.stderr, r.stderr


@pytest.mark.parametrize("args", [["--duration", "0"], ["--duration", "6x"], ["--duration", "nan"],
                                  ["--duration", "1h", "--within", "40d"], ["--duration", "1h", "--top", "0"],
                                  ["--duration", "1h", "--kwh", "-1"]])
def test_bad_options_are_one_line_exit_2(args: list[str]) -> None:
    r = when(*args, "--country", "FR")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def _iso(t: float) -> str:
    from wattprint.units import iso_utc

    return iso_utc(t)


def _started_at(answer: dict[str, Any]) -> float:
    """The 'now' the command used (its own clock), as it reports it."""
    return float(answer["now"]["start_unix"])
