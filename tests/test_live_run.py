"""A run's recorded figures against what the imitation providers served, computed by hand.

The runs draw a steady 100 W on a fake clock (tests/synthetic_run.py) or read a fake
RAPL tree through a real Tracker; the providers are the imitations of
tests/live_imitation.py on 127.0.0.1. Every expected figure below is worked out from
the served values in the comment beside it.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import wattprint
from fake_rapl import make_tree, set_uj
from live_imitation import Imitation
from settings_for import settings_for
from synthetic_run import SyntheticRun
from wattprint.intensity.base import Intensity
from wattprint.intensity.live.common import parse_time
from wattprint.intensity.resolve import finalize
from wattprint.report import markdown
from wattprint.report.schema import build_report
from wattprint.report.text import summary
from wattprint.store.sqlite import SqliteStore
from wattprint.tracking.run import Run

H10 = parse_time("2026-11-27T10:00:00Z")
H11, H12 = H10 + 3600, H10 + 7200
LB = 0.45359237
EMBER = {"scope": "lifecycle", "gas": "CO2e", "signal": "average", "accounting": "generation"}


@pytest.fixture
def imit() -> Iterator[Imitation]:
    s = Imitation()
    yield s
    s.close()


def _run(wall0: float, seconds: float, interval_s: float) -> Run:
    """A finished, unpriced run drawing 100 W from ``wall0`` for ``seconds``."""
    s = SyntheticRun(wall0=wall0, watts=(100.0,), interval_s=interval_s)
    n = int(seconds // interval_s)
    s.tick(n)
    s.clock.advance(seconds - n * interval_s)
    return s.stop()


def _priced(run: Run, base: Intensity, tmp_path: Path, env: dict[str, str] | None = None,
            project: dict[str, object] | None = None) -> Run:
    assert run.end_wall is not None
    it = finalize(base, run.start_wall, run.end_wall, settings=settings_for(env, project=project),
                  cache_dir=str(tmp_path / "cache"))
    run.price(it)
    return run


def _uk(imit: Imitation) -> dict[str, str]:
    return {"WATTPRINT_UK_CARBON_INTENSITY": "1", "WATTPRINT_UK_CARBON_INTENSITY_URL": imit.url}


def test_half_hours_priced_by_overlap_across_half_hour_and_hour_boundaries(imit: Imitation, tmp_path: Path) -> None:
    # 10:00-10:30 actual 100 (forecast 999 ignored), 10:30-11:00 actual 200, 11:00-11:30 only a
    # forecast 400, 11:30-12:00 actual 999 (after the run). Rows of 7 min straddle 10:30 and 11:00.
    imit.uk = {H10: (999, 100), H10 + 1800: (150, 200), H11: (400, None), H11 + 1800: (0, 999)}
    run = _run(H10 + 1200, 3000.0, 420.0)  # 10:20 to 11:10 at 100 W
    _priced(run, Intensity(300.0, "Ember", "GB", basis=EMBER), tmp_path, _uk(imit))
    # 600 s x 100 W at 100 + 1800 s at 200 + 600 s at 400 = (6e6 + 36e6 + 24e6) g.J/kWh
    assert run.emissions_g == pytest.approx(66e6 / 3.6e6, rel=1e-12)
    assert run.intensity is not None and run.intensity.applied == {
        "effective_g_per_kwh": pytest.approx(66e6 / 300_000, rel=1e-12),  # 220
        "live_share": pytest.approx(1.0), "gaps": [], "gap_count": 0}
    assert [p[3] for p in run.intensity.series] == ["actual", "actual", "forecast"]
    text = summary(run.to_dict())
    assert "220 gCO2e/kWh effective" in text and "live values for 100% of the energy" in text
    assert "direct CO2; the rest at 300 from Ember, lifecycle CO2e)" in text  # each figure's basis
    report = build_report(run.to_dict())
    assert report["intensity"]["live_share"] == pytest.approx(1.0)
    assert report["intensity"]["effective_g_per_kwh"] == pytest.approx(220.0)
    assert "for 100% of the energy, effective 220 gCO2e/kWh" in markdown.render(report)


def test_rejected_values_price_their_span_at_the_embedded_figure(imit: Imitation, tmp_path: Path) -> None:
    # NaN, -250 and 1e12 are refused; only 11:30-12:00 (150) prices; the rest takes Ember's 300.
    imit.uk = {H10: (None, float("nan")), H10 + 1800: (None, -250), H11: (None, 1e12),
               H11 + 1800: (None, 150)}
    run = _run(H10, 7200.0, 60.0)
    _priced(run, Intensity(300.0, "Ember", "GB", basis=EMBER), tmp_path, _uk(imit))
    # 3 x 180,000 J at 300 + 180,000 J at 150
    assert run.emissions_g == pytest.approx((3 * 180_000 * 300 + 180_000 * 150) / 3.6e6, rel=1e-12)
    it = run.intensity
    assert it is not None and it.applied is not None
    assert it.applied["live_share"] == pytest.approx(0.25) and it.applied["gap_count"] == 1
    assert it.applied["gaps"] == [[H10, H11 + 1800]]
    assert len(it.live_faults) == 3
    assert any("3 implausible value(s) rejected" in w for w in it.warnings)
    assert any(w.startswith("75.0% of the run's energy (1 span(s), the first from 2026-11-27 10:00:00Z) "
                            "had no live value") for w in it.warnings)
    assert any("mixes bases: live values are direct CO2, the embedded figure lifecycle CO2e" in w
               for w in it.warnings)
    assert "nan" not in summary(run.to_dict()).lower().replace("nan g/kwh", "")


def test_lagging_latest_data_leaves_a_flagged_gap(imit: Imitation, tmp_path: Path) -> None:
    if time.time() % 3600 > 3540:  # the provider's "now" must stay in this hour
        time.sleep(3600 - time.time() % 3600 + 1)
    nh = time.time() // 3600 * 3600
    # history: nh-3h estimated 400, nh-2h actual 500; nothing yet for nh-1h (the data lags)
    imit.em = {nh - 3 * 3600: (400, True), nh - 2 * 3600: (500, False)}
    imit.em_type = "direct"
    run = _run(nh - 3 * 3600 + 1800, 9000.0, 300.0)  # 2.5 h at 100 W, ending at nh
    env = {"ELECTRICITYMAPS_API_KEY": "em-key", "WATTPRINT_ELECTRICITYMAPS_URL": imit.url}
    _priced(run, Intensity(300.0, "Ember", "DE", basis=EMBER), tmp_path, env)
    # 180,000 J at 400 + 360,000 J at 500 + 360,000 J at the embedded 300
    assert run.emissions_g == pytest.approx((180_000 * 400 + 360_000 * 500 + 360_000 * 300) / 3.6e6)
    it = run.intensity
    assert it is not None and it.applied is not None
    assert it.applied["live_share"] == pytest.approx(0.6)
    assert it.applied["gaps"] == [[nh - 3600, nh]]
    assert [p[3] for p in it.series] == ["estimated", "actual"]
    assert it.live_basis["scope"] == "direct"
    assert not imit.paths("/v3/carbon-intensity/past-range")  # the free history served it all


def test_marginal_rate_is_its_own_figure(tmp_path: Path) -> None:
    imit = Imitation(login_delay_s=1.2, data_delay_s=1.2)  # login + data fit one budget
    values = [1000.0, 1100.0, 900.0, 1200.0, 800.0, 1000.0]  # lb/MWh, 10:00 to 10:30
    imit.wt = {H10 + 300 * k: v for k, v in enumerate(values)} | {H10 + 1800: 5000.0}
    cfg = {"watttime_username": "ann", "watttime_password": "s3cret-pw",
           "watttime_region": "CAISO_NORTH", "watttime_url": imit.url}
    try:
        run = _priced(_run(H10, 1800.0, 60.0), Intensity(179.06, "Ember", "US-CA", basis=EMBER),
                      tmp_path, project=cfg)
    finally:
        imit.close()
    # location-based: 180,000 J at the embedded 179.06, untouched by the marginal signal
    assert run.emissions_g == pytest.approx(180_000 * 179.06 / 3.6e6, rel=1e-12)
    used = run.intensity.applied if run.intensity else None
    assert used is not None
    # marginal: each 5 minutes' 30,000 J at its own value
    assert used["marginal_emissions_g"] == pytest.approx(sum(values) * LB * 30_000 / 3.6e6, rel=1e-12)
    assert used["marginal_g_per_kwh"] == pytest.approx(1000 * LB) and used["marginal_share"] == 1.0
    report = build_report(run.to_dict())
    assert report["emissions"]["location_based_g"] == pytest.approx(8.953)
    assert report["emissions"]["marginal_g"] == pytest.approx(22.6796185)
    text = summary(run.to_dict())
    assert "marginal CO2 (not Scope 2)" in text and "454 gCO2/kWh over 100% of the energy" in text
    assert "Emissions, marginal (not a Scope 2 figure): 22.7 g CO2" in markdown.render(report)


def test_a_tracker_fetches_in_the_background_and_records_what_it_used(imit: Imitation, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    start = now - now % 1800
    imit.uk = {start + 1800 * k: (123, 123 if k < 0 else None) for k in range(-2, 4)}  # forecasts ahead
    for k, v in {**_uk(imit), "WATTPRINT_LIVE_FETCH_EVERY_S": "0.1",
                 "WATTPRINT_CACHE_DIR": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(k, v)
    rapl = make_tree(tmp_path / "pc")
    t = wattprint.Tracker("bg", rapl_root=rapl, gpus="none", country="GB", interval=0.05, store=False)
    run = t.start()
    deadline = time.monotonic() + 20
    while not imit.paths():  # the background fetcher asks while the run goes on
        assert time.monotonic() < deadline
        set_uj(rapl, "intel-rapl:0", int((time.monotonic() % 1000) * 1e6))
        time.sleep(0.05)
    t0 = time.monotonic()
    run = t.stop()
    assert time.monotonic() - t0 < 8  # the end's fetch is answered at once; the margin is a loaded CI machine's
    it = run.intensity
    assert it is not None and it.applied is not None and it.live_source
    assert it.applied["live_share"] == pytest.approx(1.0)
    assert run.emissions_g == pytest.approx(run.energy_j / 3.6e6 * 123 * it.pue, rel=1e-9)


def test_echoed_secrets_never_reach_a_record_or_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    imit = Imitation(em_key="the-right-key")
    imit.echo = True  # the 401 body echoes every header sent
    key = "em-SECRET-key-0123456789"
    basic = base64.b64encode(b"ann:pw-SECRET-42").decode()
    db = str(tmp_path / "runs.db")
    rapl = make_tree(tmp_path / "pc")
    outputs = []
    try:
        for env in ({"ELECTRICITYMAPS_API_KEY": key, "WATTPRINT_ELECTRICITYMAPS_URL": imit.url},
                    {"WATTPRINT_LIVE_PROVIDER": "watttime", "WATTTIME_USERNAME": "ann",
                     "WATTTIME_PASSWORD": "pw-SECRET-42", "WATTTIME_REGION": "CAISO_NORTH",
                     "WATTPRINT_WATTTIME_URL": imit.url}):
            with monkeypatch.context() as m:
                for k, v in {**env, "WATTPRINT_CACHE_DIR": str(tmp_path / "c")}.items():
                    m.setenv(k, v)
                t = wattprint.Tracker("secret", rapl_root=rapl, gpus="none", country="DE", store=db)
                t.start()
                with pytest.warns(wattprint.WattprintWarning):
                    run = t.stop()
            record = SqliteStore.open(db).get_run(run.id)
            report = build_report(record)
            outputs += [json.dumps(run.to_dict()), json.dumps(record), summary(record),
                        markdown.render(report), json.dumps(report)]
            assert any("credentials refused" in w for w in record["intensity"]["warnings"])
    finally:
        imit.close()
    raw = Path(db).read_bytes()
    for secret in (key, "pw-SECRET-42", basic, "ann:pw-SECRET-42"):
        assert secret.encode() not in raw
        assert not [o for o in outputs if secret in o]
    assert not [o for o in outputs if "request_headers" in o or "Invalid auth-token" in o]


def test_a_provider_that_never_answers_holds_up_neither_the_sampler_nor_stop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from local_http import HangingServer

    hang = HangingServer()
    for k, v in {"WATTPRINT_UK_CARBON_INTENSITY": "1", "WATTPRINT_UK_CARBON_INTENSITY_URL": hang.url,
                 "WATTPRINT_LIVE_FETCH_EVERY_S": "0.05", "WATTPRINT_CACHE_DIR": str(tmp_path / "c")}.items():
        monkeypatch.setenv(k, v)
    rapl = make_tree(tmp_path / "pc")
    try:
        t = wattprint.Tracker("hang", rapl_root=rapl, gpus="none", country="GB", interval=0.02, store=False)
        run = t.start()
        time.sleep(0.3)  # the background fetch is now stuck in its request
        rows = run.timeline.appended
        deadline = time.monotonic() + 10
        while run.timeline.appended <= rows and time.monotonic() < deadline:
            time.sleep(0.01)
        assert run.timeline.appended > rows  # the sampler went on
        t0 = time.monotonic()
        with pytest.warns(wattprint.WattprintWarning):
            run = t.stop()
        took = time.monotonic() - t0
    finally:
        hang.close()
    # the end's own fetch is one request cut at 2 s; the margin absorbs a loaded CI machine,
    # while a stop that waited on the hanging provider would never return
    assert took < 8
    it = run.intensity
    assert it is not None and it.series == [] and it.applied is None
    assert any("UK Carbon Intensity" in w and "within 2 s" in w for w in it.warnings)
