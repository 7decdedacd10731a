"""A run driven through the real Run, sampler and sinks on a fake clock: days in seconds.

Only the hardware and the clocks are fake (:class:`SteadySensor` reports an
energy counter per channel that grows at a fixed power; :class:`FakeClock`
is both the sampler's monotonic and wall clock). Each :meth:`SyntheticRun.tick`
is what the sampler thread does once per interval: read, the run's
``_on_tick``, the sinks' ``tick``. Used by tests/test_timeline.py and
benchmarks/longrun.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from wattprint.sensors.base import Channel, Kind, Method, Sensor
from wattprint.sinks.base import Sinks
from wattprint.tracking.run import Run
from wattprint.tracking.sampler import Sampler


class FakeClock:
    """Monotonic nanoseconds and UTC seconds that move only when told."""

    def __init__(self, wall0: float) -> None:
        self.t_ns = 1_000_000_000
        self.wall0 = wall0

    def mono(self) -> int:
        return self.t_ns

    def wall(self) -> float:
        return self.wall0 + (self.t_ns - 1_000_000_000) / 1e9

    def advance(self, seconds: float) -> None:
        self.t_ns += round(seconds * 1e9)


class SteadySensor(Sensor):
    """Energy counters (J) per channel growing at ``watts`` with the fake clock."""

    def __init__(self, clock: FakeClock, watts: Sequence[float]) -> None:
        channels = [Channel(f"fake:{i}", "cpu" if i % 2 == 0 else "gpu", Method.COUNTER, Kind.ENERGY, 0.05)
                    for i in range(len(watts))]
        super().__init__(name="steady", channels=channels)
        self.clock = clock
        self.watts = list(watts)
        self._names = [c.name for c in channels]

    def read(self) -> dict[str, float]:
        s = self.clock.t_ns / 1e9
        return {n: w * s for n, w in zip(self._names, self.watts)}


class SyntheticRun:
    """A :class:`Run` fed one interval per :meth:`tick` (no thread: the caller is the sampler)."""

    def __init__(self, *, wall0: float, watts: Sequence[float] = (100.0, 250.0, 30.0, 5.0),
                 interval_s: float = 1.0, sinks: Sequence[object] = (), flush_every_s: float = 10.0) -> None:
        self.clock = FakeClock(wall0)
        self.interval_s = interval_s
        self.sampler = Sampler([SteadySensor(self.clock, watts)], clock=self.clock.mono,
                               wall_clock=self.clock.wall)
        self.run = Run(name="synthetic", sampler=self.sampler, interval_s=interval_s, command=None,
                       tags={}, availability=[])
        self.sinks = Sinks(sinks, flush_every_s=flush_every_s)
        self.sinks.start(self.run, self.clock.t_ns)

    def tick(self, n: int = 1) -> None:
        """``n`` intervals pass: what the sampler thread does each time."""
        run, sinks, sampler, clock = self.run, self.sinks, self.sampler, self.clock
        for _ in range(n):
            clock.advance(self.interval_s)
            snap = sampler.read_now()
            run._on_tick(snap)
            sinks.tick(run, snap.t_ns)

    def stop(self, intensity: object = None) -> Run:
        """End as the tracker does: final interval, pricing (when given), sinks finished."""
        self.sinks.stopping()
        self.run._finish(self.sampler.read_now())
        if intensity is not None:
            self.run.price(intensity)  # type: ignore[arg-type]
        self.sinks.finish(self.run)
        return self.run
