"""Live providers parsed from documented-format fixtures served on 127.0.0.1, cache, budget."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_http import HangingServer, LocalServer
from settings_for import settings_for
from wattprint.errors import ConfigError
from wattprint.intensity.base import Intensity
from wattprint.intensity.live import choose_provider
from wattprint.intensity.live.cache import DiskCache
from wattprint.intensity.live.common import parse_time
from wattprint.intensity.live.electricitymaps import ElectricityMaps
from wattprint.intensity.live.ukcarbon import UKCarbonIntensity
from wattprint.intensity.live.watttime import WattTime
from wattprint.intensity.resolve import finalize, resolve

FIX = Path(__file__).parent / "fixtures" / "live"
H10 = parse_time("2026-11-27T10:00:00Z")
H11, H12, H13 = H10 + 3600, H10 + 7200, H10 + 10800


def fixture(name: str) -> bytes:
    return (FIX / name).read_bytes()


def routes(method: str, path: str, h: dict[str, str]):
    js = {"Content-Type": "application/json"}
    if path.startswith("/v3/carbon-intensity/past-range"):
        if h.get("auth-token") != "em-key":
            return 401, js, b'{"error": "invalid auth-token"}'
        return 200, js, fixture("electricitymaps_past_range.json")
    if path.startswith("/v3/carbon-intensity/history"):
        return 200, js, fixture("electricitymaps_history.json")
    if path.startswith("/v3/carbon-intensity/latest"):
        return 200, js, fixture("electricitymaps_latest.json")
    if path.startswith("/intensity/"):
        return 200, js, fixture("ukcarbon_intensity.json")
    if path == "/login":
        want = "Basic " + base64.b64encode(b"ann:secret").decode()
        if h.get("authorization") != want:
            return 403, js, b"{}"
        return 200, js, fixture("watttime_login.json")
    if path.startswith("/v3/historical"):
        if h.get("authorization") != "Bearer fixture-token-123":
            return 401, js, b"{}"
        return 200, js, fixture("watttime_historical.json")
    return 404, js, b"{}"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    s = LocalServer(routes)
    yield s
    s.close()


def far() -> float:
    return time.monotonic() + 5.0


def test_electricitymaps_past_range(server: LocalServer) -> None:
    em = ElectricityMaps("em-key", "DE", server.url)
    series, cached = em.hourly(H10 + 60, H12 + 1800, deadline=far())
    assert series == [(H10, 302.0), (H11, 288.0), (H12, 275.0)] and not cached
    method, path, headers = server.requests[0]
    assert path.startswith("/v3/carbon-intensity/past-range?") and "zone=DE" in path
    assert "start=2026-11-27T10%3A00%3A00Z" in path and headers["auth-token"] == "em-key"


def test_electricitymaps_latest_fills_missing_current_hour(server: LocalServer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend "now" is 13:20 on the fixture day: the 13:00 hour is not in the history yet.
    monkeypatch.setattr("wattprint.intensity.live.electricitymaps.time.time",
                        lambda: H13 + 1200)
    em = ElectricityMaps("em-key", "DE", server.url)
    series = em.fetch(H12, H13, far())
    assert series == [(H12, 277.0), (H13, 310.0)]
    paths = [r[1].split("?")[0] for r in server.requests]
    assert paths == ["/v3/carbon-intensity/history", "/v3/carbon-intensity/latest"]


def test_uk_half_hours_averaged_actual_then_forecast(server: LocalServer) -> None:
    uk = UKCarbonIntensity(server.url)
    series = uk.fetch(H10, H11, far())
    assert series == [(H10, pytest.approx(180.0)), (H11, pytest.approx(144.0))]
    assert server.requests[0][1] == "/intensity/2026-11-27T10:00Z/2026-11-27T12:00Z"


def test_watttime_login_bearer_and_lb_to_g(server: LocalServer) -> None:
    wt = WattTime("ann", "secret", "CAISO_NORTH", server.url)
    series = wt.fetch(H10, H11, far())
    assert series[0] == (H10, pytest.approx(1000.0 * 0.45359237))
    assert series[1] == (H11, pytest.approx(800.0 * 0.45359237))
    assert [r[1].split("?")[0] for r in server.requests] == ["/login", "/v3/historical"]
    assert "signal_type=co2_moer" in server.requests[1][1]


def test_http_error_is_a_clear_live_error(server: LocalServer) -> None:
    em = ElectricityMaps("wrong", "DE", server.url)
    with pytest.raises(Exception, match="HTTP 401"):
        em.fetch(H10, H12, far())


def test_disk_cache_second_call_makes_no_request(server: LocalServer, tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "cache")
    em = ElectricityMaps("em-key", "DE", server.url)
    first, c1 = em.hourly(H10, H12, deadline=far(), cache=cache)
    n = len(server.requests)
    second, c2 = ElectricityMaps("em-key", "DE", server.url).hourly(H10, H12, deadline=far(),
                                                                    cache=cache)
    assert (c1, c2) == (False, True)
    assert second == first and len(server.requests) == n
    # A different zone is a different key: it asks the server again.
    ElectricityMaps("em-key", "FR", server.url).hourly(H10, H12, deadline=far(), cache=cache)
    assert len(server.requests) > n


def test_cache_expired_or_corrupt_is_a_miss(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    cache.put("k", {"hourly": [[1.0, 2.0]]}, ttl_s=-1)
    assert cache.get("k") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert cache.get("bad") is None
    cache.put("ok", {"hourly": []}, ttl_s=60)
    assert cache.get("ok") == {"hourly": []}


def _base(location: str = "DE", g: float = 329.65) -> Intensity:
    return Intensity(g_per_kwh=g, source="Ember", location=location, year=2025,
                     chain=["argument: country DE"])


def test_finalize_fills_hourly_and_records_source(server: LocalServer, tmp_path: Path) -> None:
    env = {"ELECTRICITYMAPS_API_KEY": "em-key", "WATTPRINT_ELECTRICITYMAPS_URL": server.url}
    base = _base()
    out = finalize(base, H10 + 100, H12 + 100, settings=settings_for(env),
                   cache_dir=str(tmp_path / "c"))
    assert out.hourly == [(H10, 302.0), (H11, 288.0), (H12, 275.0)]
    assert out.live_source and "Electricity Maps" in out.live_source
    assert out.at(H11 + 1800) == 288.0 and out.at(H10 - 10) == base.g_per_kwh
    assert out.chain[-1].startswith("live: ") and not out.warnings
    assert base.hourly == [] and len(base.chain) == 1  # input untouched


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
    assert out.hourly == [] and out.g_per_kwh == 329.65
    assert any("kept the embedded figure" in c for c in out.chain)
    assert out.warnings and "Electricity Maps" in out.warnings[-1]


def test_finalize_error_is_recorded(server: LocalServer, tmp_path: Path) -> None:
    env = {"ELECTRICITYMAPS_API_KEY": "bad", "WATTPRINT_ELECTRICITYMAPS_URL": server.url}
    out = finalize(_base(), H10, H12, settings=settings_for(env), cache_dir=str(tmp_path))
    assert out.hourly == [] and "HTTP 401" in out.warnings[-1]


def test_finalize_without_provider_is_a_no_op() -> None:
    base = _base()
    t0 = time.monotonic()
    assert finalize(base, H10, H12, settings=settings_for()) is base
    assert time.monotonic() - t0 < 0.5


def test_uk_only_for_gb(server: LocalServer, tmp_path: Path) -> None:
    env = {"WATTPRINT_UK_CARBON_INTENSITY": "1", "WATTPRINT_UK_CARBON_INTENSITY_URL": server.url}
    assert choose_provider("FR", settings_for(env)) is None
    gb = resolve(country="GB", probe_cloud=False)
    out = finalize(gb, H10, H11 + 10, settings=settings_for(env), cache_dir=str(tmp_path))
    assert [h for h, _ in out.hourly] == [H10, H11] and "UK Carbon" in (out.live_source or "")


def test_config_selects_watttime_and_marks_marginal(server: LocalServer, tmp_path: Path) -> None:
    cfg = {"watttime_username": "ann", "watttime_password": "secret",
           "watttime_region": "CAISO_NORTH", "watttime_url": server.url}
    out = finalize(_base("US-CA", 179.06), H10, H11 + 10, settings=settings_for(project=cfg),
                   cache_dir=str(tmp_path))
    assert len(out.hourly) == 2 and any("marginal" in w for w in out.warnings)


def test_bad_live_settings_warn_not_raise() -> None:
    out = finalize(_base("US-CA"), H10, H11, settings=settings_for({"ELECTRICITYMAPS_API_KEY": "k"}))
    assert out.hourly == [] and "electricitymaps_zone" in out.warnings[-1]
    # a provider name that does not exist is a bad setting, refused when settings are read
    with pytest.raises(ConfigError, match="WATTPRINT_LIVE_PROVIDER: live_provider must be one of"):
        settings_for({"WATTPRINT_LIVE_PROVIDER": "nope"})


def test_fixtures_are_valid_json() -> None:
    for p in FIX.glob("*.json"):
        json.loads(p.read_text())


def test_cache_write_failure_is_silent_and_leaves_no_temp(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    cache.put("x", {"bad": object()}, ttl_s=60)  # not JSON-serialisable
    assert cache.get("x") is None and list(tmp_path.iterdir()) == []
    blocked = tmp_path / "file"
    blocked.write_text("")
    DiskCache(blocked / "sub").put("y", {"a": 1}, ttl_s=60)  # cannot mkdir under a file


def test_parse_time_accepts_long_fractions_and_offsets_on_every_python() -> None:
    """Python 3.10's fromisoformat takes only 3 or 6 fraction digits; providers send 8 or none."""
    from wattprint.intensity.live.common import parse_time

    base = 1795773600.0  # 2026-11-27T10:00:00Z
    for text in (
        "2026-11-27T10:00:00.00000000Z",
        "2026-11-27T10:00:00.000Z",
        "2026-11-27T10:00:00Z",
        "2026-11-27T10:00Z",
        "2026-11-27T11:00:00.5+01:00",
    ):
        assert abs(parse_time(text) - base) < 1.0, text
