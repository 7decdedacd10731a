"""Whole-machine hwmon meters: discovery, readings, counters, unreadable files, the run's total."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fake_platform import HwmonTree
from powercap_tree import Tree
from wattprint.report.schema import build_report
from wattprint.sensors.base import Kind, Method, SensorError
from wattprint.sensors.platform.hwmon import BAND_METER, HwmonSensor
from wattprint.sensors.platform.opener import PlatformOptions
from wattprint.sensors.registry import open_sensors
from wattprint.tracking.sampler import Sampler
from wattprint.units import fmt_energy

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture
def tree(tmp_path: Path) -> HwmonTree:
    return HwmonTree(tmp_path / "hwmon")


def test_acpi_meter_average_sets_band_and_update_period(tree: HwmonTree) -> None:
    tree.device("k10temp", temp1_input=40000)  # no power files: not even mentioned
    tree.device("power_meter", power1_average=231_500_000, power1_average_interval=2000,
                power1_accuracy="98.5%", power1_input=1)
    s = HwmonSensor(tree.root)
    (c,) = s.channels
    assert c.name == "platform:hwmon-hwmon1" and c.component == "platform" and not c.in_total
    assert c.kind is Kind.POWER and c.method is Method.POWER_INTEGRATED
    assert c.band == pytest.approx(0.015) and c.update_s == 2.0
    assert "averaged over 2 s" in c.detail and "estimated" in c.detail
    assert s.read() == {"platform:hwmon-hwmon1": 231.5}  # power1_average, not power1_input
    s.close()
    s.close()


def test_energy_counter_is_preferred_exact_and_survives_a_fall(tree: HwmonTree) -> None:
    dev = tree.device("power_meter", energy1_input=10_000_000, power1_input=5)
    s = HwmonSensor(tree.root)
    (c,) = s.channels
    assert c.kind is Kind.ENERGY and c.method is Method.COUNTER and c.band == BAND_METER
    clock = iter(range(0, 10**12, 10**9))
    sampler = Sampler([s], clock=lambda: next(clock))
    tree.set(dev, "energy1_input", 12_500_000)
    assert sampler.read_now().totals[c.name] == pytest.approx(2.5)
    tree.set(dev, "energy1_input", 1_000_000)  # the driver restarted its counter
    assert sampler.read_now().totals[c.name] == pytest.approx(3.5)
    assert any("restarted" in f.message for f in sampler.faults)
    tree.set(dev, "energy1_input", 4_000_000)
    assert sampler.read_now().totals[c.name] == pytest.approx(6.5)
    sampler.close()


def test_power_supplies_inputs_are_summed_and_components_left_out(tree: HwmonTree) -> None:
    tree.device("amdgpu", power1_average=180_000_000)  # a GPU's own power: a component
    tree.device("pmbus", power1_label="pin", power1_input=210_000_000, power2_label="pout1", power2_input=190_000_000)
    tree.device("pmbus", power1_label="pin", power1_input=205_000_000)
    s = HwmonSensor(tree.root)
    assert [c.name for c in s.channels] == ["platform:psu-input"]
    assert s.read() == {"platform:psu-input": pytest.approx(415.0)}
    lines = s.describe()
    assert any("amdgpu" in a.detail and "component" in a.detail and not a.available for a in lines)
    s.close()


def test_part_meters_are_not_the_machine(tree: HwmonTree) -> None:
    tree.device("power_meter", power1_average=90_000_000, power1_oem_info="Grace Power Socket 0")
    tree.device("power_meter", power1_average=300_000_000, power1_oem_info="System Power")
    s = HwmonSensor(tree.root)
    assert [c.name for c in s.channels] == ["platform:hwmon-hwmon1"]
    assert any("Grace Power Socket 0" in a.detail and not a.available for a in s.describe())
    s.close()


def test_unreadable_meter_is_a_line_with_the_fix_and_garbage_a_fault(tree: HwmonTree) -> None:
    bad = tree.device("power_meter")
    (bad / "power1_average").mkdir()  # reading it fails (EISDIR), as a root-only file does for a user
    with pytest.raises(SensorError) as err:
        HwmonSensor(tree.root)
    assert "power1_average" in str(err.value)
    good = tree.device("power_meter", power1_input=100_000_000)
    s = HwmonSensor(tree.root)
    assert [c.name for c in s.channels] == ["platform:hwmon-hwmon1"]
    (line,) = [a for a in s.describe() if not a.available]
    assert "hwmon0" in line.sensor and "chmod" in line.fix
    tree.set(good, "power1_input", "garbage")
    assert s.read() == {}
    assert s.faults and s.faults[0][0] == "platform:hwmon-hwmon1"
    s.close()


def test_no_meter_says_why(tree: HwmonTree, tmp_path: Path) -> None:
    with pytest.raises(SensorError) as err:
        HwmonSensor(tree.root)
    assert "no whole-machine power meter" in str(err.value) and "acpi_power_meter" in err.value.fix
    with pytest.raises(SensorError):
        HwmonSensor(tmp_path / "nowhere")


def test_the_meter_becomes_the_total_and_components_are_inside(tree: HwmonTree, tmp_path: Path) -> None:
    tree.device("power_meter", energy1_input=0)
    rapl = Tree(tmp_path / "pc")
    rapl.zone("intel-rapl:0", "package-0", energy_uj=0)
    opts = PlatformOptions(hwmon_root=str(tree.root), ipmi="off", model="on")
    sensors, lines = open_sensors(["rapl", "platform"], rapl_root=rapl.root, platform=opts)
    chans = {c.name: c for s in sensors for c in s.channels}
    assert chans["platform:hwmon-hwmon0"].in_total and not chans["cpu:package-0"].in_total
    assert "inside the whole-machine figure" in chans["cpu:package-0"].detail
    assert "platform:rest-modelled" not in chans  # measured beats modelled
    assert any(a.sensor == "platform" and "whole-machine figure" in a.detail for a in lines)
    assert any(a.sensor == "redfish" and not a.available and "redfish_url" in a.fix for a in lines)
    for s in sensors:
        s.close()


def _wp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": SRC, **env}, timeout=60)


def test_wattprint_run_totals_the_whole_machine(tree: HwmonTree, tmp_path: Path) -> None:
    meter = tree.device("power_meter", energy1_input=7_000_000)
    rapl = Tree(tmp_path / "pc")
    pkg = rapl.zone("intel-rapl:0", "package-0", energy_uj=1_000_000)
    # the tracked program is the "hardware": it moves both counters once, by exact amounts
    script = (
        f"open({str(pkg / 'energy_uj')!r}, 'w').write('31000000\\n'); "  # package: +30 J
        f"open({str(meter / 'energy1_input')!r}, 'w').write('57000000\\n')"  # whole machine: +50 J
    )
    out = tmp_path / "run.json"
    r = _wp("run", "--rapl-root", str(rapl.root), "--gpus", "none", "--country", "FR", "--json", str(out),
            "--", sys.executable, "-c", script, env={"WATTPRINT_HWMON_ROOT": str(tree.root)})
    assert r.returncode == 0, r.stderr
    run = json.loads(out.read_text())
    chans = run["channels"]
    assert chans["platform:hwmon-hwmon0"]["energy_j"] == pytest.approx(50.0, abs=1e-9)
    assert chans["cpu:package-0"]["energy_j"] == pytest.approx(30.0, abs=1e-9)
    assert run["energy_j"] == pytest.approx(50.0, abs=1e-9)  # the whole machine, not 80
    assert chans["platform:hwmon-hwmon0"]["in_total"] and not chans["cpu:package-0"]["in_total"]
    comps = sum(c["energy_j"] for c in chans.values() if c["component"] != "platform")  # package + RAM model
    assert comps == pytest.approx(30.0 + chans["ram"]["energy_j"])
    assert f"whole machine (platform:hwmon-hwmon0) {fmt_energy(50.0)}" in r.stderr
    assert f"components {fmt_energy(comps)}; rest of the platform {fmt_energy(50.0 - comps)}" in r.stderr
    assert "inside the whole machine; not added" in r.stderr
    att = run["attribution"]  # the whole machine is split, not left out
    assert att["machine_energy_j"] == pytest.approx(50.0)
    assert att["channels"]["platform:hwmon-hwmon0"]["method"].startswith("energy-weighted share")
    methodology = " ".join(build_report(run)["methodology"])
    assert "Total: the whole machine as metered by platform:hwmon-hwmon0" in methodology
    assert f"the difference, {50.0 - comps:.4g} J, is the rest of the platform" in methodology
