"""Embodied emissions (SCI M): the user's per-device figures, amortised, kept apart from operational CO2e."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

import wattprint
from fake_rapl import make_tree, set_uj
from wattprint.embodied import YEAR_S, amortise, check_figures
from wattprint.report.schema import build_report
from wattprint.report.text import summary
from wattprint.store.sqlite import SqliteStore

pytestmark = pytest.mark.timeout(60)


def test_figures_are_checked_in_one_line() -> None:
    assert check_figures({"host": {"kg": 1200, "years": 5}}, "x") == {
        "host": {"kg": 1200.0, "years": 5.0, "source": "user-given"}}
    for bad, needle in (
        ({}, "must be a table"),
        ([1], "must be a table"),
        ({"host": {"kg": 0, "years": 5}}, "kg must be a number more than 0"),
        ({"host": {"kg": 1, "years": float("nan")}}, "years must be"),
        ({"host": {"kg": True, "years": 5}}, "kg must be"),
        ({"host": {"kg": 1, "years": 5, "watts": 3}}, "takes kg, years and source only"),
        ({"host": {"kg": 1, "years": 5, "source": 3}}, "source must be text"),
        ({"host": 5}, "takes kg, years and source only"),
    ):
        with pytest.raises(wattprint.ConfigError, match=needle) as e:
            check_figures(bad, "argument embodied_devices")
        assert "\n" not in str(e.value) and str(e.value).startswith("argument embodied_devices:")


def test_amortised_by_time_and_the_attributed_gpu_share() -> None:
    run: dict[str, Any] = {
        "duration_s": 3600.0,
        "cpu_model": "Intel Xeon Gold 6338",
        "channels": {
            "gpu:GPU-a": {"component": "gpu"}, "gpu:GPU-b": {"component": "gpu"},
            "cpu:package-0": {"component": "cpu"}, "dram:package-0": {"component": "dram"},
        },
        "attribution": {"channels": {"gpu:GPU-a": {"share": 0.25, "method": "gpu-processes"}}},
    }
    figures = check_figures({
        "NVIDIA A100-SXM4-80GB": {"kg": 150, "years": 4, "source": "my LCA"},
        "gpu:GPU-b": {"kg": 200, "years": 5},
        "Intel Xeon Gold 6338": {"kg": 20, "years": 5},
        "host": {"kg": 1000, "years": 5},
        "NVIDIA H100": {"kg": 1, "years": 1},
    }, "x")
    models = {"gpu:GPU-a": "NVIDIA A100-SXM4-80GB", "gpu:GPU-b": "NVIDIA A100-SXM4-80GB"}
    rec = amortise(run, figures, models)
    got = {i["device"]: i for i in rec["items"]}
    hour_of_a_year = 3600.0 / 31_557_600.0  # a Julian year
    # GPU a: its model's figure, a quarter of it attributed to the run
    assert got["gpu:GPU-a"]["emissions_g"] == pytest.approx(150_000 * hour_of_a_year / 4 * 0.25)
    assert got["gpu:GPU-a"]["share_basis"].startswith("attributed") and got["gpu:GPU-a"]["source"] == "my LCA"
    # GPU b: its own figure beats its model's; no attribution: the whole GPU
    assert got["gpu:GPU-b"]["emissions_g"] == pytest.approx(200_000 * hour_of_a_year / 5)
    assert got["gpu:GPU-b"]["figure"] == "gpu:GPU-b" and got["gpu:GPU-b"]["share"] == 1.0
    assert got["cpu:package-0"]["emissions_g"] == pytest.approx(20_000 * hour_of_a_year / 5)
    assert got["host"]["emissions_g"] == pytest.approx(1_000_000 * hour_of_a_year / 5)
    assert "dram:package-0" not in got
    assert rec["emissions_g"] == pytest.approx(sum(i["emissions_g"] for i in rec["items"]))
    assert rec["unmatched"] == ["NVIDIA H100"]
    assert YEAR_S == 31_557_600.0


def test_a_run_keeps_its_embodied_figure_apart_from_operational_co2e(tmp_path: Path) -> None:
    (tmp_path / "wattprint.toml").write_text(
        'country = "FR"\n\n[embodied]\nhost = { kg = 1200, years = 5, source = "vendor PCF" }\n'
        '"cpu:package-0" = { kg = 30, years = 5 }\n', encoding="utf-8")
    root = make_tree(tmp_path / "pc", packages=1, dram=False)
    t = wattprint.Tracker("m", rapl_root=str(root), interval=0.05, sensors="rapl")
    assert t.settings.source("embodied_devices").startswith(str(tmp_path / "wattprint.toml"))
    run = t.start()
    set_uj(root, "intel-rapl:0", 3_000_000)
    time.sleep(0.2)
    t.stop()
    d = run.to_dict()
    e = d["embodied"]
    assert e is not None and {i["device"] for i in e["items"]} == {"host", "cpu:package-0"}
    assert e["emissions_g"] == pytest.approx((1_200_000 + 30_000) * d["duration_s"] / (5 * YEAR_S))
    # never mixed in: the operational figure is the channels' own
    assert d["emissions_g"] == pytest.approx(sum(c["emissions_g"] for c in d["channels"].values() if c["in_total"]))
    text = summary(d)
    assert "embodied" in text and "not in the CO2e above" in text and "vendor PCF" in text
    rep = build_report(d)
    assert rep["emissions"]["embodied_g"] == pytest.approx(e["emissions_g"])
    assert rep["emissions"]["location_based_g"] == pytest.approx(d["emissions_g"])
    assert build_report(d, embodied_g=5.0)["emissions"]["embodied_g"] == 5.0  # --embodied-g wins
    store = SqliteStore.open(os.environ["WATTPRINT_DB"])
    try:
        assert store.get_run(run.id, timeline=False)["embodied"] == e
    finally:
        store.close()


def test_a_bad_table_in_the_config_fails_before_the_work(tmp_path: Path) -> None:
    (tmp_path / "wattprint.toml").write_text('[embodied]\nhost = { kg = -3, years = 5 }\n', encoding="utf-8")
    with pytest.raises(wattprint.ConfigError, match=r"wattprint.toml.*host'\]\.kg must be"):
        wattprint.Tracker("m", store=False)


def test_a_gpu_is_matched_by_its_model_and_takes_its_attributed_share() -> None:
    from fake_gpu import FakeNvGpu, FakeNvml, nv_uuid
    from wattprint.sensors.gpu.selection import open_gpu_sensors

    gpu = FakeNvGpu(nv_uuid(0), name="NVIDIA A100-SXM4-80GB", compute_pids=[os.getpid()])
    sensors, _ = open_gpu_sensors(None, env={}, nvml=FakeNvml([gpu]), vendors=("nvidia",))
    t = wattprint.Tracker("g", sensors=sensors, store=False, country="FR", interval=0.05, process="self",
                          embodied_devices={"NVIDIA A100-SXM4-80GB": {"kg": 150, "years": 4}})
    run = t.start()
    gpu.energy_mj = (gpu.energy_mj or 0) + 5_000_000
    time.sleep(0.3)
    t.stop()
    d = run.to_dict()
    (item,) = d["embodied"]["items"]  # type: ignore[index]
    assert item["device"] == f"gpu:{gpu.uuid}" and item["figure"] == "NVIDIA A100-SXM4-80GB"
    share = d["attribution"]["channels"][item["device"]]["share"]  # type: ignore[index]
    assert item["share"] == share and item["share_basis"].startswith("attributed")
    assert item["emissions_g"] == pytest.approx(150_000 * d["duration_s"] / (4 * YEAR_S) * share)
