"""The GPU power-limit sweep: time and energy per step at each limit, and the limit to pick.

A *step* is one execution of the user's workload (``run_once``): a short,
representative piece of the real job (a few hundred training iterations, an
evaluation pass). At each limit the step is repeated until its time and energy
agree within ``tolerance`` over the last ``min_repeats`` executions (or
``max_repeats`` is reached, and the point says it did not settle). The first
execution of the sweep is a warm-up and is not counted (compilation, caches,
clocks ramping up).

The limits are restored by the caller (:class:`~wattprint.sensors.gpu.limits.PowerLimits`
and ``wattprint tune-power``), whatever happens here.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from wattprint._record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    class Limits(Protocol):
        def set_all(self, watts: float) -> None: ...

        def energy_j(self) -> float: ...


class Point(Record):
    """One limit's result: median time (s) and energy (J) per step, repeats, spread."""

    __slots__ = ("limit_w", "seconds", "energy_j", "repeats", "spread", "settled")

    def __init__(self, limit_w: float, seconds: float, energy_j: float, repeats: int, spread: float,
                 settled: bool) -> None:
        self.limit_w = limit_w
        self.seconds = seconds
        self.energy_j = energy_j
        self.repeats = repeats
        self.spread = spread
        self.settled = settled

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def candidates(min_w: float, max_w: float, points: int) -> list[float]:
    """``points`` limits from the highest the board allows down to its lowest, evenly spaced (W)."""
    if points < 2 or max_w <= min_w:
        return [max_w]
    step = (max_w - min_w) / (points - 1)
    return [round(max_w - i * step, 1) for i in range(points)]


def _spread(values: list[float]) -> float:
    mid = statistics.median(values)
    return (max(values) - min(values)) / mid if mid > 0 else 0.0


def sweep(
    limits: Limits,
    run_once: Callable[[], None],
    watts: list[float],
    *,
    min_repeats: int = 3,
    max_repeats: int = 6,
    tolerance: float = 0.03,
    clock: Callable[[], float] = time.perf_counter,
    on_point: Callable[[Point], None] | None = None,
) -> list[Point]:
    """Measure each limit in ``watts`` (in that order); the caller restores the limits."""
    out: list[Point] = []
    warmed = False
    for w in watts:
        limits.set_all(w)
        if not warmed:
            run_once()
            warmed = True
        times: list[float] = []
        energies: list[float] = []
        while True:
            t0, e0 = clock(), limits.energy_j()
            run_once()
            t1, e1 = clock(), limits.energy_j()
            times.append(t1 - t0)
            energies.append(e1 - e0)
            recent_t, recent_e = times[-min_repeats:], energies[-min_repeats:]
            spread = max(_spread(recent_t), _spread(recent_e))
            settled = len(times) >= min_repeats and spread <= tolerance
            if settled or len(times) >= max_repeats:
                break
        point = Point(w, statistics.median(recent_t), statistics.median(recent_e), len(times), spread, settled)
        out.append(point)
        if on_point is not None:
            on_point(point)
    return out


def recommend(points: list[Point], max_slowdown: float) -> dict[str, Any]:
    """The limit with the least energy per step, and the one with the least energy among those
    at most ``max_slowdown`` (0.1 = 10 %) slower than the highest limit measured."""
    if not points:
        return {}
    reference = max(points, key=lambda p: p.limit_w)

    def summary(p: Point) -> dict[str, Any]:
        saving = 1 - p.energy_j / reference.energy_j if reference.energy_j else 0.0
        slowdown = p.seconds / reference.seconds - 1 if reference.seconds else 0.0
        return {"limit_w": p.limit_w, "energy_saving": saving, "slowdown": slowdown}

    least = min(points, key=lambda p: p.energy_j)
    allowed = [p for p in points if p.seconds <= reference.seconds * (1 + max_slowdown)]
    within = min(allowed, key=lambda p: p.energy_j)
    return {"reference_w": reference.limit_w, "min_energy": summary(least), "max_slowdown": max_slowdown,
            "within_slowdown": summary(within)}
