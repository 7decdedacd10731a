"""A whole-machine meter failing mid-run: the components stand in for the span, the meter resumes.

Every run here is a real sampler (and a real Run) over a fake meter at the
boundary wattprint reads (an hwmon tree, an ipmitool on PATH, an imitation
Redfish BMC), with a fake clock stepped one second per read, so the expected
totals are worked out by hand in each test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fake_platform import (
    DCMI_OK,
    Bmc,
    Clock,
    Cpu,
    HwmonTree,
    Machine,
    S,
    ipmitool_printing,
    redfish_server,
    wait_until,
    write_ipmitool,
)
from fake_rapl import make_tree
from wattprint.sensors.base import Channel, Kind, Method, Sensor
from wattprint.sensors.platform.hwmon import HwmonSensor
from wattprint.sensors.platform.ipmi import IpmiSensor
from wattprint.sensors.platform.model import rest_w
from wattprint.sensors.platform.opener import PlatformOptions, settle
from wattprint.sensors.platform.redfish import RedfishSensor
from wattprint.sensors.platform.total import FALLBACK
from wattprint.tracking.sampler import Sampler

pytestmark = pytest.mark.timeout(60)
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _fallback_by_interval(d: dict) -> list[float]:  # type: ignore[type-arg]
    return [iv["energy_j"][FALLBACK] for iv in d["timeline"]]


@pytest.fixture
def tree(tmp_path: Path) -> HwmonTree:
    return HwmonTree(tmp_path / "hwmon")


def test_hwmon_read_error_falls_back_and_resumes(tree: HwmonTree) -> None:
    dev = tree.device("power_meter", power1_average=300_000_000, power1_average_interval=1000)
    m = Machine(HwmonSensor(tree.root, retry_s=0.0))
    name = m.guard.chosen  # type: ignore[attr-defined]
    m.tick(3)  # reads at 1, 2, 3 s: metered, 300 W
    tree.set(dev, "power1_average", "garbage")  # the driver answers nonsense (as EIO would)
    m.tick(3)  # reads at 4, 5, 6 s: no reading
    tree.set(dev, "power1_average", 300_000_000)
    m.tick(4)  # read at 7 s: back, but the step 6-7 s spans the outage; 8, 9, 10 s metered
    d = m.finish()
    # metered steps 0-3 and 7-10 s at 300 W; steps 3-7 s from the package at 100 W
    assert d["channels"][name]["energy_j"] == pytest.approx(6 * 300 + 4 * 100)
    assert d["energy_j"] == pytest.approx(2200.0)
    assert d["channels"][FALLBACK]["energy_j"] == pytest.approx(400.0)
    assert not d["channels"][FALLBACK]["in_total"] and not d["channels"]["cpu:package-0"]["in_total"]
    assert _fallback_by_interval(d) == pytest.approx([0, 0, 0, 100, 100, 100, 100, 0, 0, 0])
    assert [iv["energy_j"][name] for iv in d["timeline"]] == pytest.approx([300] * 3 + [100] * 4 + [300] * 3)
    assert d["platform"] == {"channel": name, "refresh_s": 1.0, "metered_s": pytest.approx(6.0),
                             "fallback_s": pytest.approx(4.0), "fallback_spans": 1,
                             "edge_band": pytest.approx(0.1 * 1800 / 2200), "short": False}
    notes = [f["message"] for f in d["faults"] if f["source"] == name]
    assert any("stand in" in n and "garbage" in n for n in notes) and any("metered again" in n for n in notes)
    assert not any(f["source"] == name and not f["message"].startswith("note:") for f in d["faults"])


def test_hwmon_meter_that_vanishes_and_returns_twice(tree: HwmonTree) -> None:
    dev = tree.device("power_meter", power1_input=200_000_000)
    m = Machine(HwmonSensor(tree.root, retry_s=0.0), cpu_w=50.0)
    m.tick(2)
    tree.set(dev, "power1_input", "")  # a read error, then the file is gone
    m.tick(1)
    (dev / "power1_input").unlink()
    m.tick(2)
    (dev / "power1_input").write_text("200000000\n")  # the device comes back with its file
    m.tick(3)
    tree.set(dev, "power1_input", "x")
    m.tick(1)
    tree.set(dev, "power1_input", 200_000_000)
    m.tick(2)
    d = m.finish()
    # reads at 1..11 s: down at 3, 4, 5 (back at 6: step 5-6 falls back too), down at 9 (back at 10)
    fb = [0, 0, 50, 50, 50, 50, 0, 0, 50, 50, 0]
    assert _fallback_by_interval(d) == pytest.approx(fb)
    assert d["energy_j"] == pytest.approx(sum(50 if f else 200 for f in fb))
    assert d["platform"]["fallback_spans"] == 2
    assert d["platform"]["fallback_s"] == pytest.approx(6.0) and d["platform"]["metered_s"] == pytest.approx(5.0)


def test_the_modelled_rest_joins_the_fallback_when_the_model_is_on(tree: HwmonTree) -> None:
    dev = tree.device("power_meter", energy1_input=0)
    m = Machine(HwmonSensor(tree.root, retry_s=0.0), cpu_w=120.0, model="on")
    assert any("modelled rest" in a.detail for a in m.lines if a.sensor == "platform fallback")
    for uj in (250_000_000, 500_000_000):  # an energy counter: 250 J a second
        tree.set(dev, "energy1_input", uj)
        m.tick()
    tree.set(dev, "energy1_input", "nonsense")
    m.tick(2)
    tree.set(dev, "energy1_input", 900_000_000)  # counted on from here: the gap's 400 J are not re-counted
    m.tick()
    tree.set(dev, "energy1_input", 1_150_000_000)
    m.tick()
    d = m.finish()
    stand_in = 120.0 + rest_w(120.0, "platinum", 10.0)  # package + its modelled rest, per second
    assert d["energy_j"] == pytest.approx(2 * 250 + 3 * stand_in + 250)
    assert d["channels"][FALLBACK]["energy_j"] == pytest.approx(3 * stand_in)
    assert d["channels"][FALLBACK]["method"] == "modelled"


def _outage(m: Machine, meter: Sensor, fail: object, mend: object) -> dict:  # type: ignore[type-arg]
    """Two metered reads, the meter fails until its reading is stale, two reads, it mends, two reads."""
    m.tick(2)
    fail()  # type: ignore[operator]
    wait_until(lambda: meter.read() == {}, 10.0)
    m.tick(2)
    mend()  # type: ignore[operator]
    wait_until(lambda: meter.read() != {}, 10.0)
    m.tick(2)
    return m.finish()


def test_ipmitool_failing_then_back(on_path: Path, tmp_path: Path) -> None:
    answer = tmp_path / "answer.txt"
    good = DCMI_OK.format(w=250, avg=250, period=1)
    answer.write_text(good)
    ipmitool_printing(on_path, answer)
    meter = IpmiSensor(require_device=False, every_s=0.05, timeout_s=1.0)  # stale after 2.05 s
    m = Machine(meter, cpu_w=100.0)
    d = _outage(m, meter, lambda: answer.write_text("Error: Unable to establish IPMI v2 / RMCP+ session\n"),
                lambda: answer.write_text(good))
    # metered 0-2 s and 5-6 s at 250 W; 2-5 s from the package (the step 4-5 s spans the outage)
    assert d["energy_j"] == pytest.approx(3 * 250 + 3 * 100)
    assert _fallback_by_interval(d) == pytest.approx([0, 0, 100, 100, 100, 0])
    assert d["platform"]["fallback_s"] == pytest.approx(3.0) and d["platform"]["fallback_spans"] == 1
    assert any("no fresh reading" in f["message"] for f in d["faults"])


def test_ipmitool_timing_out(on_path: Path, tmp_path: Path) -> None:
    answer, slow = tmp_path / "answer.txt", tmp_path / "slow"
    answer.write_text(DCMI_OK.format(w=180, avg=180, period=1))
    write_ipmitool(on_path, f'[ -e "{slow}" ] && exec sleep 30\nexec cat "{answer}"')
    meter = IpmiSensor(require_device=False, every_s=0.05, timeout_s=1.0)  # stale after 2.05 s
    m = Machine(meter, cpu_w=60.0)
    d = _outage(m, meter, lambda: slow.write_text(""), slow.unlink)
    assert d["energy_j"] == pytest.approx(3 * 180 + 3 * 60)
    assert any("no answer within" in f["message"] for f in d["faults"])


@pytest.fixture
def bmc() -> Bmc:
    return Bmc("op", "pw-1")


@pytest.fixture
def url(bmc: Bmc, cert: tuple[Path, Path]) -> Iterator[str]:
    with redfish_server(bmc, *cert) as base:
        yield base


def test_redfish_500s_then_back_with_several_supplies(bmc: Bmc, url: str, cert: tuple[Path, Path]) -> None:
    bmc.collection("1")
    bmc.subsystem_chassis("1", [lambda: 160.0, lambda: 170.0])  # two supplies, summed: 330 W
    meter = RedfishSensor(url, username="op", password="pw-1", ca_bundle=str(cert[0]), every_s=0.05,
                          timeout_s=1.0)
    m = Machine(meter, cpu_w=200.0)
    metrics = "/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies/1/Metrics"
    d = _outage(m, meter, lambda: bmc.fail.__setitem__(metrics, 500), lambda: bmc.fail.pop(metrics))
    assert d["energy_j"] == pytest.approx(3 * 330 + 3 * 200)
    assert d["channels"]["platform:redfish"]["energy_j"] == pytest.approx(d["energy_j"])
    assert any("500" in f["message"] for f in d["faults"])


def test_redfish_timing_out(bmc: Bmc, url: str, cert: tuple[Path, Path]) -> None:
    bmc.collection("1")
    bmc.environment_chassis("1", lambda: 400.0)
    meter = RedfishSensor(url, username="op", password="pw-1", ca_bundle=str(cert[0]), every_s=0.05,
                          timeout_s=1.0)
    m = Machine(meter, cpu_w=150.0)
    path = "/redfish/v1/Chassis/1/EnvironmentMetrics"
    d = _outage(m, meter, lambda: bmc.delay_s.__setitem__(path, 4.0), lambda: bmc.delay_s.pop(path))
    assert d["energy_j"] == pytest.approx(3 * 400 + 3 * 150)


def test_a_meter_down_from_the_start_counts_as_one_span(tree: HwmonTree) -> None:
    dev = tree.device("power_meter", power1_input=100_000_000)
    meter = HwmonSensor(tree.root, retry_s=0.0)
    tree.set(dev, "power1_input", "gone")
    m = Machine(meter, cpu_w=40.0)
    m.tick(2)
    d = m.finish()
    assert d["energy_j"] == pytest.approx(80.0)
    assert d["platform"]["fallback_spans"] == 1 and d["platform"]["metered_s"] == pytest.approx(0.0)


def test_wattprint_run_whose_meter_fails_mid_run(tree: HwmonTree, tmp_path: Path) -> None:
    """End to end: the tracked program breaks the meter's file for a while, then mends it.

    The components are a fake RAPL tree (package and DRAM measured, nothing modelled): while the
    meter is down the program adds exactly 10 J to the package counter, and that is what stands in.
    Modelled components would make the stand-in depend on the host (TDP x load, GiB x W/GiB)."""
    dev = tree.device("power_meter", power1_input=300_000_000)
    f = str(dev / "power1_input")
    rapl = make_tree(tmp_path / "pc", packages=1, dram=True)
    pkg = str(rapl / "intel-rapl:0" / "energy_uj")
    script = (f"import time; time.sleep(0.6); open({f!r}, 'w').write('broken\\n'); time.sleep(0.4); "
              f"open({pkg!r}, 'r+').write('10000000\\n'); time.sleep(0.8); "
              f"open({f!r}, 'w').write('300000000\\n'); time.sleep(1.6)")
    out = tmp_path / "run.json"
    env = {**os.environ, "PYTHONPATH": SRC, "WATTPRINT_HWMON_ROOT": str(tree.root), "WATTPRINT_PLATFORM_MODEL": "off"}
    r = subprocess.run([sys.executable, "-m", "wattprint.cli.main", "run", "--rapl-root", str(rapl), "--gpus",
                        "none", "--country", "FR", "--interval", "0.1", "--json", str(out), "--", sys.executable,
                        "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    run = json.loads(out.read_text())
    plat = run["platform"]
    assert plat["fallback_spans"] == 1 and 1.1 < plat["fallback_s"] < 3.0
    assert plat["metered_s"] + plat["fallback_s"] == pytest.approx(run["duration_s"])
    # the components' energy over the outage: the 10 J written then; the rest is the meter's 300 W
    fallback_j = run["channels"][FALLBACK]["energy_j"]
    assert fallback_j == pytest.approx(10.0)
    # The meter's energy runs between its own reads, the run's seconds between its edge snapshots
    # taken just after them: the two differ by the time between those clock reads at each edge, a few
    # µs (22 µs seen in CI, 6.6 mJ at 300 W) or more if the sampler thread is preempted there. 5 ms of
    # it at 300 W is 1.5 J, far below what a lost or doubled span would change (300 J per second).
    assert run["energy_j"] == pytest.approx(300.0 * plat["metered_s"] + fallback_j, abs=1.5)
    assert "components stood in" in r.stderr and "metered again" in r.stderr


class Flaky(Sensor):
    """A whole-machine power meter whose reading is there or not, as the test says."""

    def __init__(self) -> None:
        super().__init__("flaky", [Channel("platform:flaky", "platform", Method.POWER_INTEGRATED, Kind.POWER, 0.05,
                                           False, "", 1.0)])
        self.watts: float | None = 0.0

    def read(self) -> dict[str, float]:
        return {} if self.watts is None else {"platform:flaky": self.watts}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.floats(0, 2000)), st.floats(0, 500), st.integers(1, 5)),
                min_size=1, max_size=30))
def test_any_outage_pattern_counts_each_step_once(steps: list[tuple[float | None, float, int]]) -> None:
    """Each step (the meter's W or None, the package's W, seconds) is counted exactly once: the meter's
    trapezoid when it read at both ends, else the package's own trapezoid over the step."""
    meter, cpu = Flaky(), Cpu(0.0)
    sensors: list[Sensor] = [cpu, meter]
    settle(sensors, PlatformOptions(model="off", site="datacentre"))
    clock = Clock()
    sensors[-1].clock = clock  # type: ignore[attr-defined]
    sampler = Sampler(sensors, clock=clock)
    expected, prev_w, prev_cpu = 0.0, meter.watts, cpu.watts
    last = sampler.read_now().totals["platform:flaky"]
    for watts, cpu_w, seconds in steps:
        meter.watts, cpu.watts = watts, cpu_w
        clock.t += seconds * S
        total = sampler.read_now().totals["platform:flaky"]
        both = watts is not None and prev_w is not None
        expected += 0.5 * ((prev_w or 0.0) + (watts or 0.0) if both else prev_cpu + cpu_w) * seconds
        assert total >= last  # never falls
        last, prev_w, prev_cpu = total, watts, cpu_w
    assert last == pytest.approx(expected, rel=1e-9, abs=1e-6)
    sampler.close()


def test_the_stand_in_takes_the_weakest_method_and_widest_band_of_the_components() -> None:
    ram = Sensor("ram", [Channel("ram", "ram", Method.MODELLED, Kind.ENERGY, 0.5)])
    sensors: list[Sensor] = [Cpu(10.0), ram, Flaky()]
    lines = settle(sensors, PlatformOptions(model="off", site="datacentre"))
    fallback = next(c for c in sensors[-1].channels if c.name == FALLBACK)
    assert fallback.method is Method.MODELLED and fallback.band == 0.5 and not fallback.in_total
    assert any(a.sensor == "platform fallback" and "cpu:package-0, ram" in a.detail for a in lines)
    only_counters: list[Sensor] = [Cpu(10.0), Flaky()]
    settle(only_counters, PlatformOptions(model="off", site="datacentre"))
    assert next(c for c in only_counters[-1].channels if c.name == FALLBACK).method is Method.COUNTER
