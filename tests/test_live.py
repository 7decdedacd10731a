"""Live providers against documented-shape answers on 127.0.0.1: parsing, limits, cache, budget."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from live_imitation import DAY, Imitation
from local_http import HangingServer, LocalServer
from settings_for import settings_for
from wattprint.errors import ConfigError
from wattprint.intensity.base import Intensity
from wattprint.intensity.live import choose_provider
from wattprint.intensity.live.cache import DiskCache
from wattprint.intensity.live.common import LiveError, merge_points, parse_time, retry_after
from wattprint.intensity.live.electricitymaps import ElectricityMaps
from wattprint.intensity.live.fetcher import LiveFetcher
from wattprint.intensity.live.ukcarbon import UKCarbonIntensity
from wattprint.intensity.live.watttime import WattTime
from wattprint.intensity.resolve import finalize, resolve

FIX = Path(__file__).parent / "fixtures" / "live"
H10 = parse_time("2026-11-27T10:00:00Z")
H11, H12, H13 = H10 + 3600, H10 + 7200, H10 + 10800
LB = 0.45359237


@pytest.fixture
def imit() -> Iterator[Imitation]:
    s = Imitation()
    yield s
    s.close()


def far() -> float:
    return time.monotonic() + 5.0


def _base(location: str = "DE", g: float = 329.65) -> Intensity:
    return Intensity(g_per_kwh=g, source="Ember", location=location, year=2025,
                     chain=["argument: country DE"], basis={"scope": "lifecycle", "gas": "CO2e"})


# -- parsing, at each provider's own resolution ----------------------------------------------


def test_electricitymaps_past_range_keeps_hours_and_their_quality(imit: Imitation) -> None:
    imit.em = {H10: (302, False), H11: (288, True), H12: (275, False), H13: (999, False)}
    got = ElectricityMaps("em-key", "DE", imit.url).series(H10 + 60, H12 + 1800, deadline=far())
    assert got.points == [(H10, H11, 302.0, "actual"), (H11, H12, 288.0, "estimated"),
                          (H12, H13, 275.0, "actual")]
    (path,) = imit.paths()
    assert path.startswith("/v3/carbon-intensity/past-range?") and "zone=DE" in path
    assert "start=2026-11-27T10%3A00%3A00Z" in path and "end=2026-11-27T13%3A00%3A00Z" in path


def test_electricitymaps_recent_hours_use_the_free_history_and_latest(imit: Imitation) -> None:
    if time.time() % 3600 > 3590:  # the provider's hour must not turn during the test
        time.sleep(3600 - time.time() % 3600 + 0.5)
    now_h = time.time() // 3600 * 3600
    imit.em = {now_h - 7200: (400, False), now_h - 3600: (410, True), now_h: (420, True)}
    imit.em_type = "direct"
    em = ElectricityMaps("em-key", "DE", imit.url)
    got = em.series(now_h - 7200, now_h + 60, deadline=far())
    assert [p[2] for p in got.points] == [400.0, 410.0, 420.0]
    assert [p.split("?")[0] for p in imit.paths()] == ["/v3/carbon-intensity/history",
                                                        "/v3/carbon-intensity/latest"]
    assert em.basis == {"scope": "direct", "gas": "CO2e", "signal": "average", "accounting": "consumption"}


def test_uk_half_hours_kept_as_served_actual_else_forecast(imit: Imitation) -> None:
    imit.uk = {H10: (180, 176), H10 + 1800: (182, 184), H11: (150, 148), H11 + 1800: (140, None)}
    got = UKCarbonIntensity(imit.url).series(H10, H11 + 10, deadline=far())
    assert got.points == [(H10, H10 + 1800, 176.0, "actual"), (H10 + 1800, H11, 184.0, "actual"),
                          (H11, H11 + 1800, 148.0, "actual"), (H11 + 1800, H12, 140.0, "forecast")]
    assert imit.paths() == ["/intensity/2026-11-27T10:00Z/2026-11-27T12:00Z"]


def test_watttime_five_minute_points_in_g_per_kwh(imit: Imitation) -> None:
    imit.wt = {H10: 900.0, H10 + 300: 1000.0, H11: 800.0}
    got = WattTime("ann", "s3cret-pw", "CAISO_NORTH", imit.url).series(H10, H11 + 5, deadline=far())
    assert got.points == [(H10, H10 + 300, pytest.approx(900 * LB), "actual"),
                          (H10 + 300, H10 + 600, pytest.approx(1000 * LB), "actual"),
                          (H11, H11 + 300, pytest.approx(800 * LB), "actual")]
    assert [p.split("?")[0] for p in imit.paths()] == ["/login", "/v3/historical"]
    assert "signal_type=co2_moer" in imit.paths()[1]


def test_documented_fixtures_still_parse() -> None:
    """The hand-written documentation-shaped answers (tests/fixtures/live) read as before."""
    files = {"/v3/carbon-intensity/past-range": "electricitymaps_past_range.json",
             "/intensity/": "ukcarbon_intensity.json", "/login": "watttime_login.json",
             "/v3/historical": "watttime_historical.json"}

    def route(method: str, path: str, h: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        name = next(f for p, f in files.items() if path.startswith(p))
        return 200, {"Content-Type": "application/json"}, (FIX / name).read_bytes()

    server = LocalServer(route)
    try:
        em = ElectricityMaps("k", "DE", server.url).series(H10, H12 + 10, deadline=far()).points
        uk = UKCarbonIntensity(server.url).series(H10, H11 + 10, deadline=far()).points
        wt = WattTime("a", "b", "R", server.url).series(H10, H11 + 10, deadline=far()).points
    finally:
        server.close()
    assert [p[2] for p in em] == [302.0, 288.0, 275.0]
    assert [p[2] for p in uk] == [176.0, 184.0, 148.0, 140.0] and uk[-1][3] == "forecast"
    assert [round(p[2] / LB, 6) for p in wt] == [900.0, 1000.0, 1100.0, 800.0]
    for p in FIX.glob("*.json"):
        json.loads(p.read_text())


# -- checked values -------------------------------------------------------------------------


def test_nan_negative_and_huge_values_are_rejected_as_faults(imit: Imitation) -> None:
    imit.uk = {H10: (None, float("nan")), H10 + 1800: (None, -250), H11: (None, 1e12),
               H11 + 1800: (None, 150), H12: (None, "12x")}
    got = UKCarbonIntensity(imit.url).series(H10, H12 + 1800, deadline=far())
    assert got.points == [(H11 + 1800, H12, 150.0, "actual")]
    assert len(got.faults) == 4
    assert "nan" in got.faults[0] and "-250.0" in got.faults[1] and "1000000000000.0" in got.faults[2]
    assert all("rejected" in f for f in got.faults)


def test_marginal_values_have_their_own_plausible_range(imit: Imitation) -> None:
    imit.wt = {H10: 3000.0, H10 + 300: 4500.0}  # 1,361 g/kWh: fine as a marginal rate; 2,041: not
    got = WattTime("ann", "s3cret-pw", "R", imit.url).series(H10, H10 + 600, deadline=far())
    assert [p[0] for p in got.points] == [H10] and len(got.faults) == 1


# -- span limits, cache ----------------------------------------------------------------------


def test_uk_requests_stay_within_14_days(imit: Imitation, tmp_path: Path) -> None:
    imit.uk = {H10 + 1800 * k: (None, 100 + k % 7) for k in range(20 * 48)}
    uk = UKCarbonIntensity(imit.url)
    got = uk.series(H10, H10 + 20 * DAY - 1, deadline=far(), cache=DiskCache(tmp_path))
    assert got.problems == [] and len(got.points) == 20 * 48 and got.requests == 2
    spans = [p.split("/")[2:4] for p in imit.paths()]
    assert [(parse_time(b) - parse_time(a)) / DAY for a, b in spans] == [14.0, 6.0]
    # a later run over part of the span asks nothing: every day is cached
    again = uk.series(H10 + 3 * DAY, H10 + 5 * DAY, deadline=far(), cache=DiskCache(tmp_path))
    assert again.requests == 0 and again.cached_days == 3 and len(imit.paths()) == 2


def test_electricitymaps_past_range_cut_to_10_days(imit: Imitation) -> None:
    t0 = H10 - 60 * DAY
    imit.em = {t0 + 3600 * k: (200 + k % 5, False) for k in range(25 * 24)}
    got = ElectricityMaps("em-key", "DE", imit.url).series(t0, t0 + 25 * DAY - 1, deadline=far())
    assert len(got.points) == 25 * 24 and got.problems == []
    assert len(imit.paths("/v3/carbon-intensity/past-range")) == 3


def test_cache_expired_or_corrupt_is_a_miss(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    cache.put("k", {"a": 1}, ttl_s=-1)
    assert cache.get("k") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert cache.get("bad") is None
    cache.put("ok", {"a": []}, ttl_s=60)
    assert cache.get("ok") == {"a": []}


def test_cache_write_failure_is_silent_and_leaves_no_temp(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    cache.put("x", {"bad": object()}, ttl_s=60)  # not JSON-serialisable
    assert cache.get("x") is None and list(tmp_path.iterdir()) == []
    blocked = tmp_path / "file"
    blocked.write_text("")
    DiskCache(blocked / "sub").put("y", {"a": 1}, ttl_s=60)  # cannot mkdir under a file


# -- errors, Retry-After, budget -------------------------------------------------------------


def test_429_retry_after_is_honoured_across_runs(imit: Imitation, tmp_path: Path) -> None:
    imit.uk = {H10: (None, 100)}
    imit.limited["/intensity/"] = 120
    env = {"WATTPRINT_UK_CARBON_INTENSITY": "1", "WATTPRINT_UK_CARBON_INTENSITY_URL": imit.url}
    gb = _base("GB")
    first = finalize(gb, H10, H10 + 600, settings=settings_for(env), cache_dir=str(tmp_path))
    assert first.series == [] and "HTTP 429, rate limited (asked to wait 120 s)" in first.warnings[-1]
    imit.limited.clear()
    second = finalize(gb, H10, H10 + 600, settings=settings_for(env), cache_dir=str(tmp_path))
    assert len(imit.paths()) == 1  # not asked again
    assert second.series == [] and "not asked again before" in second.warnings[-1]


def test_other_failures_are_remembered_briefly(imit: Imitation, tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    em = ElectricityMaps("wrong", "DE", imit.url)
    assert em.series(H10, H11, deadline=far(), cache=cache).problems == [
        "Electricity Maps: HTTP 401, credentials refused"]
    assert em.series(H10, H11, deadline=far(), cache=cache).problems[0].startswith(
        "Electricity Maps: HTTP 401, credentials refused; not asked again before")
    assert len(imit.paths()) == 1


def test_retry_after_forms() -> None:
    assert retry_after("30") == 30.0 and retry_after("99999") == 3600.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 60) == 60.0
    assert retry_after("soon") is None and retry_after(None) is None


def test_slow_login_and_data_fit_one_budget(tmp_path: Path) -> None:
    imit = Imitation(login_delay_s=1.2, data_delay_s=1.2)
    imit.wt = {H10 + 300 * k: 1000.0 for k in range(12)}
    cfg = {"watttime_username": "ann", "watttime_password": "s3cret-pw",
           "watttime_region": "CAISO_NORTH", "watttime_url": imit.url}
    try:
        t0 = time.monotonic()
        out = finalize(_base("US-CA", 179.06), H10, H10 + 1800, settings=settings_for(project=cfg),
                       cache_dir=str(tmp_path))
        took = time.monotonic() - t0
    finally:
        imit.close()
    assert 2.4 <= took < 4.5 and not out.warnings
    assert [p[0] for p in out.marginal] == [H10 + 300 * k for k in range(6)]
    assert out.series == [] and out.g_per_kwh == 179.06  # the location-based figure is untouched


def test_finalize_timeout_keeps_embedded_figure_within_budget(tmp_path: Path) -> None:
    hang = HangingServer()
    try:
        env = {"ELECTRICITYMAPS_API_KEY": "k", "WATTPRINT_ELECTRICITYMAPS_URL": hang.url}
        t0 = time.monotonic()
        out = finalize(_base(), H10, H12, budget_s=0.5, settings=settings_for(env),
                       cache_dir=str(tmp_path))
        assert time.monotonic() - t0 < 1.5
    finally:
        hang.close()
    assert out.series == [] and out.g_per_kwh == 329.65
    assert any("kept the embedded figure" in c for c in out.chain)
    assert out.warnings and "Electricity Maps" in out.warnings[-1]


# -- finalize and the fetcher ----------------------------------------------------------------


def test_finalize_attaches_series_with_basis_and_leaves_input(imit: Imitation, tmp_path: Path) -> None:
    imit.em = {H10: (302, False), H11: (288, True), H12: (275, False)}
    env = {"ELECTRICITYMAPS_API_KEY": "em-key", "WATTPRINT_ELECTRICITYMAPS_URL": imit.url}
    base = _base()
    out = finalize(base, H10 + 100, H12 + 100, settings=settings_for(env), cache_dir=str(tmp_path))
    assert [p[2] for p in out.series] == [302.0, 288.0, 275.0] and out.series[1][3] == "estimated"
    assert out.live_basis["scope"] == "lifecycle" and out.live_basis["signal"] == "average"
    assert out.live_source and "Electricity Maps" in out.live_source and not out.warnings
    assert out.at(H11 + 1800) == 288.0 and out.at(H10 - 10) == base.g_per_kwh
    assert out.mean_over(H10 + 1800, H11 + 1800) == (pytest.approx((302 + 288) / 2), 3600.0)
    assert base.series == [] and len(base.chain) == 1  # input untouched
    back = Intensity.from_dict(json.loads(json.dumps(out.to_dict())))
    assert back.series == out.series and back.live_basis == out.live_basis


def test_old_stored_hourly_pairs_read_as_hour_values() -> None:
    old = {**_base().to_dict(), "hourly": [[H10, 100.0]]}
    del old["series"]
    it = Intensity.from_dict(old)  # type: ignore[arg-type]
    assert it.series == [(H10, H11, 100.0, "actual")] and it.at(H10 + 10) == 100.0


def test_fetcher_prefers_actuals_and_asks_only_what_is_not_settled(imit: Imitation) -> None:
    imit.uk = {H10: (200, 190), H10 + 1800: (300, None), H11: (400, None), H11 + 1800: (500, None)}
    f = LiveFetcher(UKCarbonIntensity(imit.url), None, H10 - 7200)
    f.fetch_until(H12)
    assert f.settled_until() == H10 - 7200  # nothing served before 10:00: nothing settled
    f.start_utc = H10
    assert f.settled_until() == H10 + 1800  # up to the first forecast
    imit.uk = {H10: (200, 999), H10 + 1800: (300, 310), H11: (400, None), H11 + 1800: (500, 520)}
    f.fetch_until(H12)
    pts, faults, problems = f.snapshot(H10, H12)
    # forecasts became actuals; an actual at the same quality takes the newer answer (a revision)
    assert [(p[2], p[3]) for p in pts] == [(999.0, "actual"), (310.0, "actual"), (400.0, "forecast"),
                                           (520.0, "actual")]
    assert imit.paths() == ["/intensity/2026-11-27T08:00Z/2026-11-27T12:00Z",
                            "/intensity/2026-11-27T10:00Z/2026-11-27T12:00Z"]
    assert f.fetches == 2 and faults == [] and problems == []


def test_merge_keeps_the_better_quality_and_cuts_overlaps() -> None:
    a = [(0.0, 1800.0, 1.0, "forecast"), (1800.0, 3600.0, 2.0, "actual")]
    b = [(0.0, 1800.0, 5.0, "actual"), (1800.0, 3600.0, 6.0, "forecast"), (3000.0, 4000.0, 7.0, "actual")]
    assert merge_points(a, b) == [(0.0, 1800.0, 5.0, "actual"), (1800.0, 3600.0, 2.0, "actual"),
                                  (3600.0, 4000.0, 7.0, "actual")]


def test_finalize_without_provider_is_a_no_op() -> None:
    base = _base()
    t0 = time.monotonic()
    assert finalize(base, H10, H12, settings=settings_for()) is base
    assert time.monotonic() - t0 < 0.5


def test_uk_only_for_gb(imit: Imitation, tmp_path: Path) -> None:
    imit.uk = {H10: (None, 100), H10 + 1800: (None, 120), H11: (None, 140)}
    env = {"WATTPRINT_UK_CARBON_INTENSITY": "1", "WATTPRINT_UK_CARBON_INTENSITY_URL": imit.url}
    assert choose_provider("FR", settings_for(env)) is None
    gb = resolve(country="GB", probe_cloud=False)
    out = finalize(gb, H10, H11 + 10, settings=settings_for(env), cache_dir=str(tmp_path))
    assert [p[0] for p in out.series] == [H10, H10 + 1800, H11] and "UK Carbon" in (out.live_source or "")
    assert out.live_basis == {"scope": "direct", "gas": "CO2", "signal": "average"}


def test_bad_live_settings_warn_not_raise() -> None:
    out = finalize(_base("US-CA"), H10, H11, settings=settings_for({"ELECTRICITYMAPS_API_KEY": "k"}))
    assert out.series == [] and "electricitymaps_zone" in out.warnings[-1]
    with pytest.raises(ConfigError, match="WATTPRINT_LIVE_PROVIDER: live_provider must be one of"):
        settings_for({"WATTPRINT_LIVE_PROVIDER": "nope"})


def test_an_error_is_a_status_line_and_a_fixed_message(imit: Imitation) -> None:
    imit.echo = True
    with pytest.raises(LiveError) as em:
        ElectricityMaps("em-SECRET-0123", "DE", imit.url).fetch(H10, H11, far())
    with pytest.raises(LiveError) as wt:
        WattTime("ann", "wrong-pw", "R", imit.url).fetch(H10, H11, far())
    assert str(em.value) == "Electricity Maps: HTTP 401, credentials refused"
    assert str(wt.value) == "WattTime: HTTP 403, credentials refused or endpoint not in this plan"
    assert base64.b64encode(b"ann:wrong-pw").decode() not in str(wt.value)


def test_parse_time_accepts_long_fractions_and_offsets_on_every_python() -> None:
    """Python 3.10's fromisoformat takes only 3 or 6 fraction digits; providers send 8 or none."""
    for text in ("2026-11-27T10:00:00.00000000Z", "2026-11-27T10:00:00.000Z", "2026-11-27T10:00:00Z",
                 "2026-11-27T10:00Z", "2026-11-27T11:00:00.5+01:00"):
        assert abs(parse_time(text) - H10) < 1.0, text


def test_a_cached_answer_keeps_the_basis_it_was_given_on(imit: Imitation, tmp_path: Path) -> None:
    imit.em = {H10: (120, False)}
    imit.em_type = "direct"
    ElectricityMaps("em-key", "DE", imit.url).series(H10, H11, deadline=far(), cache=DiskCache(tmp_path))
    again = ElectricityMaps("em-key", "DE", imit.url)
    assert again.series(H10, H11, deadline=far(), cache=DiskCache(tmp_path)).cached_days == 1
    assert again.basis["scope"] == "direct" and len(imit.paths()) == 1


def test_a_spent_budget_is_not_held_against_the_provider(imit: Imitation, tmp_path: Path) -> None:
    imit.uk = {H10: (None, 100)}
    uk = UKCarbonIntensity(imit.url)
    late = uk.series(H10, H11, deadline=time.monotonic() - 1, cache=DiskCache(tmp_path))
    assert late.problems == ["UK Carbon Intensity: time budget spent"] and imit.paths() == []
    assert uk.series(H10, H11, deadline=far(), cache=DiskCache(tmp_path)).points  # asked at once


def test_electricitymaps_asks_past_range_only_for_hours_history_no_longer_holds(imit: Imitation) -> None:
    if time.time() % 3600 > 3590:  # the provider's hour must not turn during the test
        time.sleep(3600 - time.time() % 3600 + 0.5)
    now_h = time.time() // 3600 * 3600
    imit.em_now = now_h + 60  # the imitation's clock, pinned inside this hour
    imit.em = {now_h - 3600 * k: (100 + k, False) for k in range(2, 31)}  # up to 2 h ago: lagging
    got = ElectricityMaps("em-key", "DE", imit.url).series(now_h - 30 * 3600, now_h, deadline=far())
    assert [p[0] for p in got.points] == [now_h - 3600 * k for k in range(30, 1, -1)]
    past, history, latest = imit.paths()
    assert past.startswith("/v3/carbon-intensity/past-range")
    assert f"end={iso(now_h - 23 * 3600)}" in past.replace("%3A", ":")  # the free history holds the rest
    assert history.startswith("/v3/carbon-intensity/history") and latest.startswith("/v3/carbon-intensity/latest")


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_a_run_whose_every_value_is_refused_says_so(imit: Imitation, tmp_path: Path) -> None:
    imit.uk = {H10: (None, -1), H10 + 1800: (None, float("inf"))}
    env = {"WATTPRINT_UK_CARBON_INTENSITY": "1", "WATTPRINT_UK_CARBON_INTENSITY_URL": imit.url}
    out = finalize(_base("GB", 300.0), H10, H11, settings=settings_for(env), cache_dir=str(tmp_path))
    assert out.series == [] and len(out.live_faults) == 2
    assert out.warnings == ["UK Carbon Intensity: all 2 value(s) for the run implausible, rejected; kept the "
                            "embedded figure 300.00 gCO2e/kWh"]


def test_a_refused_value_outside_the_run_is_not_its_fault(imit: Imitation, tmp_path: Path) -> None:
    imit.uk = {H10: (None, float("nan")), H10 + 1800: (None, 100)}  # the request covers 10:00-11:00
    env = {"WATTPRINT_UK_CARBON_INTENSITY": "1", "WATTPRINT_UK_CARBON_INTENSITY_URL": imit.url}
    out = finalize(_base("GB"), H10 + 2400, H10 + 3000, settings=settings_for(env), cache_dir=str(tmp_path))
    assert out.series == [(H10 + 1800, H11, 100.0, "actual")] and out.live_faults == [] and not out.warnings
    inside = finalize(_base("GB"), H10 + 1200, H10 + 3000, settings=settings_for(env), cache_dir=str(tmp_path))
    assert len(inside.live_faults) == 1 and len(imit.paths()) == 1  # the second from the cache
