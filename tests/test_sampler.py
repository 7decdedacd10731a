"""The sampler: cumulative totals, trapezoid integration, coverage, faults never escape."""

from __future__ import annotations

import threading
import time

import pytest

from wattprint.sensors.base import Channel, Kind, Method, Sensor
from wattprint.tracking.sampler import Sampler


class ScriptedSensor(Sensor):
    """Hardware stand-in: returns the next scripted raw value per read."""

    def __init__(self, kind: Kind, values: list[float], name: str = "scripted") -> None:
        method = Method.COUNTER if kind is Kind.ENERGY else Method.POWER_INTEGRATED
        super().__init__(name=name, channels=[Channel(f"{name}:0", "cpu", method, kind, 0.05)])
        self.values = list(values)
        self.reads = 0

    def read(self) -> dict[str, float]:
        v = self.values[min(self.reads, len(self.values) - 1)]
        self.reads += 1
        return {f"{self.name}:0": v}


class Clock:
    def __init__(self) -> None:
        self.t = 0

    def __call__(self) -> int:
        return self.t


def test_counter_totals_are_relative_to_first_read() -> None:
    s = Sampler([ScriptedSensor(Kind.ENERGY, [1000.0, 1010.0, 1035.5])])
    assert s.read_now().totals["scripted:0"] == pytest.approx(10.0)
    assert s.read_now().totals["scripted:0"] == pytest.approx(35.5)


def test_power_is_integrated_by_trapezoid() -> None:
    clock = Clock()
    # power ramps 0 → 100 W over 2 s in 1 s steps: exact trapezoid = 100 J
    sensor = ScriptedSensor(Kind.POWER, [0.0, 50.0, 100.0])
    s = Sampler([sensor], clock=clock)
    clock.t = 1_000_000_000
    s.read_now()
    clock.t = 2_000_000_000
    assert s.read_now().totals["scripted:0"] == pytest.approx(100.0)


def test_raising_sensor_is_dropped_and_recorded_others_go_on() -> None:
    class Broken(ScriptedSensor):
        def read(self) -> dict[str, float]:
            if self.reads >= 1:
                raise OSError("device gone")
            return super().read()

    good = ScriptedSensor(Kind.ENERGY, [0.0, 5.0, 9.0], name="good")
    bad = Broken(Kind.ENERGY, [0.0], name="bad")
    s = Sampler([good, bad])
    snap = s.read_now()  # must not raise
    assert snap.totals["good:0"] == 5.0
    assert [f.source for f in s.faults] == ["bad"]
    assert "device gone" in s.faults[0].message
    assert "bad:0" in s.ended_channels
    assert s.read_now().totals["good:0"] == 9.0
    assert len(s.faults) == 1  # dropped once, not re-reported at every read


def test_channel_faults_from_a_sensor_are_collected_once() -> None:
    sensor = ScriptedSensor(Kind.ENERGY, [0.0, 1.0, 2.0])
    s = Sampler([sensor])
    sensor.faults.append(("scripted:0", "GPU is lost"))
    s.read_now()
    s.read_now()
    assert [(f.source, f.message) for f in s.faults] == [("scripted:0", "GPU is lost")]


def test_tick_respects_wrap_bound_whatever_the_interval() -> None:
    sensor = ScriptedSensor(Kind.ENERGY, [0.0])
    sensor.max_interval_s = 0.05
    s = Sampler([sensor])
    token = s.subscribe(lambda snap: None, 5.0)
    try:
        assert s.tick_s == pytest.approx(0.05)
        deadline = time.monotonic() + 4.0  # 80 ticks' time: the listener's 5 s are not reached
        while sensor.reads < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sensor.reads >= 4  # kept reading though the listener wants 5 s
    finally:
        s.unsubscribe(token)


def test_listener_exception_never_escapes_and_thread_stops_with_last_listener() -> None:
    s = Sampler([ScriptedSensor(Kind.ENERGY, [0.0, 1.0])])

    def bad(_snap: object) -> None:
        raise RuntimeError("listener bug")

    token = s.subscribe(bad, 0.01)
    deadline = time.monotonic() + 10
    while not s.faults and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # and a few more ticks: the sampler goes on after its listener failed
    s.unsubscribe(token)
    assert any(f.source == "listener" for f in s.faults)
    assert not any(t.name == "wattprint-sampler" and t.is_alive() for t in threading.enumerate())
