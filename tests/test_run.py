"""Runs and windows through the public API, on a fake powercap tree."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

import wattprint
from fake_rapl import make_tree, set_uj
from wattprint.units import J_PER_KWH


@pytest.fixture
def rapl(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "powercap", packages=2, dram=True)


def _tracker(rapl: Path, **kw: object) -> wattprint.Tracker:
    kw.setdefault("country", "FR")
    return wattprint.Tracker("t", rapl_root=rapl, store=False, gpus="none", **kw)  # type: ignore[arg-type]


def test_run_totals_are_counter_differences(rapl: Path) -> None:
    set_uj(rapl, "intel-rapl:0", 5_000_000)
    t = _tracker(rapl)
    t.start()
    set_uj(rapl, "intel-rapl:0", 15_000_000)  # +10 J package 0
    set_uj(rapl, "intel-rapl:1", 2_000_000)  # +2 J package 1
    set_uj(rapl, "intel-rapl:0:0", 3_000_000)  # +3 J dram 0
    run = t.stop()
    assert run.channels["cpu:package-0"].energy_j == pytest.approx(10.0)
    assert run.channels["cpu:package-1"].energy_j == pytest.approx(2.0)
    assert run.channels["dram:package-0"].energy_j == pytest.approx(3.0)
    assert run.energy_j == pytest.approx(15.0)
    assert run.energy_kwh == pytest.approx(15.0 / J_PER_KWH)
    assert run.channels["cpu:package-0"].method == "counter"
    assert "ram" not in run.channels  # DRAM measured: no modelled RAM on top
    g = run.intensity.g_per_kwh
    assert run.intensity.location == "FR" and not run.intensity.fallback
    assert run.emissions_g == pytest.approx(15.0 / J_PER_KWH * g * run.intensity.pue)


def test_nested_and_overlapping_windows_read_fresh_counters(rapl: Path) -> None:
    t = _tracker(rapl)
    run = t.start()
    set_uj(rapl, "intel-rapl:0", 1_000_000)  # 1 J before any window
    with run.window("outer") as outer:
        set_uj(rapl, "intel-rapl:0", 3_000_000)
        with run.window("inner") as inner:
            set_uj(rapl, "intel-rapl:0", 7_000_000)
            overlap = run.open_window("overlap")  # opens inside inner, closes after outer
            set_uj(rapl, "intel-rapl:0", 8_000_000)
        set_uj(rapl, "intel-rapl:0", 10_000_000)
    set_uj(rapl, "intel-rapl:0", 20_000_000)
    overlap.close()
    run = t.stop()
    assert outer.energy_j == pytest.approx(9.0)
    assert inner.energy_j == pytest.approx(5.0)
    assert inner.parent is outer
    assert overlap.energy_j == pytest.approx(13.0)
    assert run.energy_j == pytest.approx(20.0)
    assert [w.name for w in run.windows] == ["inner", "outer", "overlap"]
    assert outer.emissions_g == pytest.approx(9.0 / J_PER_KWH * run.intensity.g_per_kwh * run.intensity.pue)


def test_timeline_covers_all_wall_time(rapl: Path) -> None:
    t = _tracker(rapl, interval=0.02)
    run = t.start()
    stop = threading.Event()

    def burn() -> None:  # a counter that moves while the sampler samples
        uj = 0
        while not stop.is_set():
            uj += 20_000
            set_uj(rapl, "intel-rapl:0", uj)
            time.sleep(0.001)

    writer = threading.Thread(target=burn)
    writer.start()
    deadline = time.monotonic() + 20
    time.sleep(0.3)
    while run.timeline.appended < 5 and time.monotonic() < deadline:  # however slowly the threads take turns
        time.sleep(0.01)
    stop.set()
    writer.join()
    run = t.stop()
    assert len(run.timeline) >= 5
    assert run.timeline[0].t0_s == 0.0
    for a, b in zip(run.timeline, run.timeline[1:]):
        assert b.t0_s == a.t1_s  # no gaps, no overlaps
    assert run.coverage_s == pytest.approx(run.duration_s, abs=1e-9)
    summed = sum(iv.energy_j["cpu:package-0"] for iv in run.timeline)
    assert summed == pytest.approx(run.channels["cpu:package-0"].energy_j)


def test_context_manager_decorator_forms_and_tags(rapl: Path) -> None:
    opts = dict(rapl_root=rapl, store=False, gpus="none", country="DE")

    @wattprint.track
    def bare() -> int:
        return 1

    @wattprint.track("named", **opts)
    def named() -> int:
        set_uj(rapl, "intel-rapl:1", 4_000_000)
        return 2

    with wattprint.track("outer", tags={"model": "bert"}, **opts) as run:
        assert wattprint.active_run() is run
        assert named() == 2  # inside a run: a window of it
    assert run.tags == {"model": "bert"}
    assert [w.name for w in run.windows] == ["named"]
    assert run.windows[0].energy_j == pytest.approx(4.0)
    assert wattprint.active_run() is None
    assert bare.__name__ == "bare"


def test_no_location_is_a_flagged_world_average_fallback(rapl: Path) -> None:
    t = wattprint.Tracker(rapl_root=rapl, store=False, gpus="none")
    t.start()
    with pytest.warns(wattprint.WattprintWarning):
        run = t.stop()
    assert run.intensity.fallback is True
    assert run.intensity.location.upper() in ("WORLD", "WLD", "OWID_WRL")
    assert run.to_dict()["intensity"]["fallback"] is True


def test_bad_country_fails_at_construction(rapl: Path) -> None:
    from wattprint.intensity.base import LocationError

    with pytest.raises(LocationError):
        wattprint.Tracker(country="XX", rapl_root=rapl, store=False)


def test_windows_in_threads_and_async_tasks(rapl: Path) -> None:
    t = _tracker(rapl)
    run = t.start()

    async def task(name: str) -> None:
        with run.window(name) as w:
            await asyncio.sleep(0.01)
            assert wattprint.tracking.run._current_window.get() is w

    async def main() -> None:
        await asyncio.gather(task("a"), task("b"))

    asyncio.run(main())
    th = threading.Thread(target=lambda: run.window("thread").__enter__().close())
    th.start()
    th.join()
    run = t.stop()
    assert sorted(w.name for w in run.windows) == ["a", "b", "thread"]
    assert all(w.parent is None for w in run.windows)


def test_json_export_uses_the_attribute_names(rapl: Path) -> None:
    t = _tracker(rapl)
    run = t.start()
    with run.window("w"):
        pass
    run = t.stop()
    d = run.to_dict()
    for key in ("duration_s", "energy_j", "energy_kwh", "emissions_g", "channels", "intensity"):
        assert key in d
    ch = d["channels"]["cpu:package-0"]
    assert set(ch) >= {"energy_j", "method", "band"}
    assert set(d["intensity"]) >= {"g_per_kwh", "source", "location", "fallback"}
    assert d["windows"][0]["name"] == "w"


def test_a_bad_location_from_env_or_config_fails_at_construction(
    rapl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wattprint.config import ConfigError
    from wattprint.intensity.base import LocationError

    monkeypatch.setenv("WATTPRINT_COUNTRY", "ZZ")
    with pytest.raises(LocationError, match="ZZ"):
        wattprint.Tracker(rapl_root=rapl, store=False)
    monkeypatch.delenv("WATTPRINT_COUNTRY")
    (tmp_path / "wattprint.toml").write_text('region = "US-XX"\n')  # conftest runs tests in tmp_path
    with pytest.raises(LocationError, match="US-XX"):
        wattprint.Tracker(rapl_root=rapl, store=False)
    (tmp_path / "wattprint.toml").write_text("country = [\n")
    with pytest.raises(ConfigError):
        wattprint.Tracker(rapl_root=rapl, store=False)
    (tmp_path / "wattprint.toml").write_text('country = "FR"\n')
    t = wattprint.Tracker(rapl_root=rapl, store=False, gpus="none")
    t.start()
    assert t.stop().intensity.location == "FR"
