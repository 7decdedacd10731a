"""The contract every sensor passes: registered families and a user's own sensor alike.

Each *rig* below puts one sensor family on its hardware boundary (a powercap
tree in a temp directory, injected NVML / amdsmi module objects, injected CPU
times and clock for the model, a fake meter for the user's sensor), can move
that hardware forward, and can break it the way the sensor knows how to
report. Every rig is then held to the same rules:

* every channel says what it is (name, component, method, kind, band);
* ``read()`` gives, for known channels only, a finite cumulative energy (J,
  never decreasing, across counter wraps) or a finite non-negative power (W);
* through the sampler, every channel's total never decreases, and counters
  add exactly the energy the hardware counted;
* a fault the sensor knows (a vanished GPU, an unreadable counter file, a
  failing CPU-times source) is recorded in ``faults``, never raised out of
  ``read()``;
* ``close()`` may be called twice.

A family added to the registry without a rig here fails
:func:`test_every_registered_family_has_a_contract_rig`.
"""

from __future__ import annotations

import itertools
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fake_gpu import FakeAmdGpu, FakeAmdSmi, FakeNvGpu, FakeNvml, nv_uuid
from fake_platform import HwmonTree
from powercap_tree import RANGE_UJ, Tree
from wattprint.sensors.base import Channel, Kind, Method, Sensor
from wattprint.sensors.cpu.host import CpuInfo
from wattprint.sensors.cpu.model import RAM_W_PER_GB, ModelSensor
from wattprint.sensors.gpu import amd as amd_mod
from wattprint.sensors.gpu.common import Selected
from wattprint.sensors.platform.opener import PlatformOptions
from wattprint.sensors.registry import family_names, open_sensors
from wattprint.tracking.sampler import Sampler

# -- rigs: one per family, plus a user's own sensor ---------------------------------------


class Rig:
    """A sensor family on a fake hardware boundary."""

    family: str | None = None  # the registry name; None for a user's own sensor

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    def open(self) -> list[Sensor]:
        raise NotImplementedError

    def registry_kwargs(self) -> dict[str, object]:
        """Keyword arguments that open the same family through ``open_sensors([family], ...)``."""
        return {}

    def advance(self, step: int) -> dict[str, float]:
        """Move the hardware forward by ``step`` (0 .. 2**31); return the exact J each counter added."""
        raise NotImplementedError

    def break_(self) -> str:
        """Break one channel the way the sensor reports (not raises); return its name."""
        raise NotImplementedError


class RaplRig(Rig):
    family = "rapl"
    RANGE = RANGE_UJ

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.tree = Tree(tmp / "powercap")
        self.pkg = self.RANGE - 1000  # wraps on the first large step
        self.dram = 0
        self.tree.zone("intel-rapl:0", "package-0", energy_uj=self.pkg, range_uj=self.RANGE)
        self.tree.zone("intel-rapl:0:0", "dram", energy_uj=self.dram, range_uj=self.RANGE)

    def registry_kwargs(self) -> dict[str, object]:
        return {"rapl_root": self.tree.root}

    def open(self) -> list[Sensor]:
        return open_sensors(["rapl"], **self.registry_kwargs())[0]  # type: ignore[arg-type]

    def advance(self, step: int) -> dict[str, float]:
        step %= self.RANGE + 1  # at most one full range between reads, as the sampler guarantees
        self.pkg = (self.pkg + step) % (self.RANGE + 1)
        self.dram = (self.dram + step // 3) % (self.RANGE + 1)
        self.tree.set("intel-rapl:0", self.pkg)
        self.tree.set("intel-rapl:0:0", self.dram)
        return {"cpu:package-0": step / 1e6, "dram:package-0": (step // 3) / 1e6}

    def break_(self) -> str:
        (self.tree.dirs["intel-rapl:0"] / "energy_uj").write_text("not a number\n")
        return "cpu:package-0"


class ModelRig(Rig):
    family = "model"
    RAM = 16 * 2**30

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.now_ns = 10**12
        self.busy = 100.0
        self.idle = 300.0
        self.broken = False

    def _times(self) -> dict[str, float]:
        if self.broken:
            raise OSError("/proc/stat: No such file or directory")
        return {"user": self.busy, "system": 0.0, "idle": self.idle}

    def open(self) -> list[Sensor]:
        # the registry opens the same class on the real /proc (see the coverage test)
        info = CpuInfo("Contract Test CPU 1234", 8)
        return [ModelSensor(cpu_info=info, ram_bytes=self.RAM, cpu_times=self._times, clock=lambda: self.now_ns)]

    def advance(self, step: int) -> dict[str, float]:
        dt_ns = step * 1000
        self.now_ns += dt_ns
        self.busy += step % 7 / 100  # CPU seconds: any split of busy and idle
        self.idle += step % 5 / 100
        return {"ram": self.RAM / 2**30 * RAM_W_PER_GB * dt_ns / 1e9}  # the constant RAM model is exact

    def break_(self) -> str:
        self.broken = True
        return "cpu:model"


class NvmlRig(Rig):
    family = "nvml"

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.counter = FakeNvGpu(nv_uuid(1), energy_mj=7_000_000)
        self.power = FakeNvGpu(nv_uuid(2), energy_mj=None, power_mw=250_000)
        self.modelled = FakeNvGpu(nv_uuid(3), energy_mj=None, power_mw=None, util_gpu=30)
        self.nvml = FakeNvml([self.counter, self.power, self.modelled])

    def registry_kwargs(self) -> dict[str, object]:
        return {"nvml": self.nvml, "env": {}}

    def open(self) -> list[Sensor]:
        return open_sensors(["nvml"], **self.registry_kwargs())[0]  # type: ignore[arg-type]

    def advance(self, step: int) -> dict[str, float]:
        assert self.counter.energy_mj is not None
        self.counter.energy_mj += step
        self.power.power_mw = step % 700_000
        self.modelled.util_gpu = step % 101
        return {f"gpu:{self.counter.uuid}": step / 1000}

    def break_(self) -> str:
        self.counter.lost = "NVMLError_GpuIsLost"
        return f"gpu:{self.counter.uuid}"


class AmdRig(Rig):
    family = "amd"
    RES_UJ = 10.0

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        # a 32-bit counter close to its top, so steps wrap it
        self.counter = FakeAmdGpu("amd-a", ticks=2**32 - 5000, resolution_uj=self.RES_UJ, step_ticks=1000)
        self.power = FakeAmdGpu("amd-b", bdf="0000:0d:00.0", ticks=None, power={"socket_power": 200})
        self.amdsmi = FakeAmdSmi([self.counter, self.power])

    def registry_kwargs(self) -> dict[str, object]:
        return {"amdsmi": self.amdsmi, "env": {}}

    def open(self) -> list[Sensor]:
        # the registry's probe waits 0.2 s to check the counter moves; the contract runs many
        # examples, so it opens through the same probe with no wait (the coverage test uses the registry)
        probe = amd_mod.probe(self.amdsmi, check_s=0)
        assert probe.inventory is not None
        sensor, _ = probe.open([Selected(g, "contract") for g in probe.inventory], [])
        assert sensor is not None
        self.counter.step_ticks = 0
        return [sensor]

    def advance(self, step: int) -> dict[str, float]:
        assert self.counter.ticks is not None
        ticks = (self.counter.ticks + step) % 2**32
        if ticks in (0xFFFF, 0xFFFFFFFF):
            # amdsmi's "no data" markers: the sensor skips such a reading (a transient, not a
            # fault) and the next one catches up, so the per-step check moves one tick past them
            step, ticks = step + 1, (ticks + 1) % 2**32
        self.counter.ticks = ticks
        self.power.power = {"socket_power": step % 750}
        return {f"gpu:{self.counter.uuid}": step * self.RES_UJ * 1e-6}

    def break_(self) -> str:
        self.counter.lost = True
        return f"gpu:{self.counter.uuid}"


class WallMeter(Sensor):
    """A user's own sensor, as the docs tell users to write one: a smart plug giving watts."""

    def __init__(self, meter: FakeMeter) -> None:
        super().__init__(
            "wallmeter",
            [Channel("wall", "platform", Method.POWER_INTEGRATED, Kind.POWER, 0.02, in_total=False,
                     detail="smart plug at the wall")],
        )
        self.meter = meter

    def read(self) -> dict[str, float]:
        try:
            return {"wall": self.meter.watts()}
        except OSError as exc:
            self.faults.append(("wall", f"meter unreachable: {exc}"))
            return {}

    def close(self) -> None:
        self.meter.closed += 1


class FakeMeter:
    def __init__(self) -> None:
        self.w = 90.0
        self.up = True
        self.closed = 0

    def watts(self) -> float:
        if not self.up:
            raise OSError("connection refused")
        return self.w


class CustomRig(Rig):
    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.meter = FakeMeter()

    def open(self) -> list[Sensor]:
        return open_sensors([lambda: WallMeter(self.meter)])[0]

    def advance(self, step: int) -> dict[str, float]:
        self.meter.w = float(step % 2000)
        return {}

    def break_(self) -> str:
        self.meter.up = False
        return "wall"


class PlatformRig(Rig):
    """An ACPI power meter's energy counter in a fake hwmon tree (µJ)."""

    family = "platform"

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.tree = HwmonTree(tmp / "hwmon")
        self.uj = 5_000_000
        self.dev = self.tree.device("power_meter", energy1_input=self.uj)

    def registry_kwargs(self) -> dict[str, object]:
        return {"platform": PlatformOptions(hwmon_root=str(self.tree.root), ipmi="off", model="off")}

    def open(self) -> list[Sensor]:
        return open_sensors(["platform"], **self.registry_kwargs())[0]  # type: ignore[arg-type]

    def advance(self, step: int) -> dict[str, float]:
        self.uj += step
        self.tree.set(self.dev, "energy1_input", self.uj)
        return {"platform:hwmon-hwmon0": step / 1e6}

    def break_(self) -> str:
        self.tree.set(self.dev, "energy1_input", "not a number")
        return "platform:hwmon-hwmon0"


RIGS: list[type[Rig]] = [RaplRig, ModelRig, NvmlRig, AmdRig, PlatformRig, CustomRig]
rigs = pytest.mark.parametrize("rig_cls", RIGS, ids=lambda r: r.family or "custom")


@contextmanager
def opened(rig_cls: type[Rig]) -> Iterator[tuple[Rig, list[Sensor]]]:
    with tempfile.TemporaryDirectory() as tmp:
        rig = rig_cls(Path(tmp))
        sensors = rig.open()
        assert sensors, f"{rig_cls.__name__} opened no sensor"
        try:
            yield rig, sensors
        finally:
            for s in sensors:
                s.close()


def fake_clock(step_ns: int = 100_000_000) -> object:
    ticks = itertools.count(10**12, step_ns)
    return lambda: next(ticks)


# -- the contract ---------------------------------------------------------------------


def test_every_registered_family_has_a_contract_rig() -> None:
    covered = {r.family for r in RIGS if r.family}
    assert covered == set(family_names())
    for rig_cls in RIGS:
        if rig_cls.family is None:
            continue
        with opened(rig_cls) as (rig, sensors):
            through_registry, _ = open_sensors([rig_cls.family], **rig.registry_kwargs())  # type: ignore[arg-type]
            try:
                assert [type(s) for s in through_registry] == [type(s) for s in sensors], rig_cls.family
            finally:
                for s in through_registry:
                    s.close()


@rigs
def test_channels_say_what_they_are(rig_cls: type[Rig]) -> None:
    with opened(rig_cls) as (_, sensors):
        names = [c.name for s in sensors for c in s.channels]
        assert names and len(names) == len(set(names))
        for s in sensors:
            assert isinstance(s.name, str) and s.name
            for c in s.channels:
                assert isinstance(c.name, str) and c.name.strip() == c.name and c.name
                assert isinstance(c.component, str) and c.component
                assert isinstance(c.method, Method) and isinstance(c.kind, Kind)
                assert isinstance(c.band, float) and 0.0 < c.band < 1.0
                assert isinstance(c.in_total, bool) and isinstance(c.detail, str)
                if c.method is Method.COUNTER:
                    assert c.kind is Kind.ENERGY, c.name  # a counter is cumulative joules
                if c.method is Method.POWER_INTEGRATED:
                    assert c.kind is Kind.POWER, c.name  # integrated by the sampler, not the sensor
            assert s.max_interval_s is None or s.max_interval_s > 0


@rigs
@settings(max_examples=25, deadline=None)
@given(steps=st.lists(st.integers(min_value=0, max_value=2**31), min_size=1, max_size=12))
def test_readings_are_cumulative_and_totals_never_fall(rig_cls: type[Rig], steps: list[int]) -> None:
    with opened(rig_cls) as (rig, sensors):
        kinds = {c.name: c.kind for s in sensors for c in s.channels}
        sampler = Sampler(sensors, clock=fake_clock())  # type: ignore[arg-type]
        last_raw: dict[str, float] = {}
        before = sampler.read_now().totals
        for step in steps:
            expected = rig.advance(step)
            for s in sensors:
                for name, value in s.read().items():
                    assert name in kinds, f"{name} is not a channel of {s.name}"
                    assert isinstance(value, float) and math.isfinite(value), (name, value)
                    if kinds[name] is Kind.ENERGY:
                        assert value >= last_raw.get(name, -math.inf), (name, value, step)
                    else:
                        assert value >= 0.0, (name, value)
                    last_raw[name] = value
            after = sampler.read_now().totals
            for name, total in after.items():
                assert total >= before.get(name, 0.0), (name, before.get(name), total, step)
            for name, joules in expected.items():
                assert after[name] - before[name] == pytest.approx(joules, rel=1e-9, abs=1e-6), (name, step)
            before = after
        assert not sampler.faults, sampler.faults


@rigs
def test_a_known_fault_is_recorded_never_raised(rig_cls: type[Rig]) -> None:
    with opened(rig_cls) as (rig, sensors):
        sampler = Sampler(sensors, clock=fake_clock())  # type: ignore[arg-type]
        rig.advance(1000)
        before = sampler.read_now().totals
        broken = rig.break_()
        for s in sensors:
            s.read()  # must not raise
        after = sampler.read_now().totals
        assert any(f.source == broken for f in sampler.faults), sampler.faults
        assert sampler.sensors == sensors  # reported, so nobody had to be dropped
        assert after[broken] >= before[broken]
        rig.advance(1000)
        assert sampler.read_now().totals[broken] >= after[broken]


@rigs
def test_close_twice_is_harmless(rig_cls: type[Rig]) -> None:
    with opened(rig_cls) as (_, sensors):
        for s in sensors:
            s.read()
            s.close()
            s.close()
