"""Idle baseline: what the machine burns anyway, per channel, in watts.

Measured by reading the sensors across a quiet span before the work starts
(``--baseline S``), or reused from the store (``wattprint baseline`` records
one per host; a run may reuse it while it is younger than a set age). A run
then reports dynamic energy = total − idle power × duration, per channel,
floored at zero (a channel busier at idle than during the run gets 0, and the
run says so).
"""

from __future__ import annotations

import time

from wattprint._record import Record
from wattprint.host import hostname

TYPE_CHECKING = False  # not from typing: importing it costs more than this module
if TYPE_CHECKING:
    from typing import Any

    from wattprint.tracking.record import BaselineRecord

DEFAULT_MAX_AGE_S = 7 * 24 * 3600.0


class Baseline(Record):
    """Idle power per channel, measured on ``host`` at ``measured_utc`` over ``duration_s``."""

    __slots__ = ("host", "measured_utc", "duration_s", "power_w", "source", "notes")

    def __init__(
        self,
        host: str,
        measured_utc: float,
        duration_s: float,
        power_w: dict[str, float],
        source: str = "measured before the run",
        notes: list[str] | None = None,
    ) -> None:
        self.host = host
        self.measured_utc = measured_utc
        self.duration_s = duration_s
        self.power_w = power_w
        self.source = source
        self.notes: list[str] = notes if notes is not None else []

    def apply(self, duration_s: float, energy_j: dict[str, float], counted: set[str]) -> BaselineRecord:
        """The run's idle and dynamic energy per channel (``counted``: channels in the total)."""
        idle = {n: self.power_w[n] * duration_s for n in energy_j if n in self.power_w}
        dynamic = {n: max(0.0, e - idle[n]) for n, e in energy_j.items() if n in idle}
        missing = sorted(set(energy_j) - set(self.power_w))
        notes = list(self.notes)
        if missing:
            notes.append(f"no idle figure for {', '.join(missing)}: dynamic energy not computed there")
        # constant models (RAM) equal their idle figure up to rounding: not worth a note
        floored = sorted(n for n, e in energy_j.items() if n in idle and e < idle[n] * (1 - 1e-6) - 1e-9)
        if floored:
            notes.append(f"below the idle baseline (dynamic set to 0): {', '.join(floored)}")
        return {
            "source": self.source,
            "host": self.host,
            "measured_utc": self.measured_utc,
            "duration_s": self.duration_s,
            "power_w": dict(self.power_w),
            "idle_energy_j": idle,
            "dynamic_energy_j": dynamic,
            "dynamic_total_j": sum(v for n, v in dynamic.items() if n in counted),
            "notes": notes,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "measured_utc": self.measured_utc,
            "duration_s": self.duration_s,
            "power_w": self.power_w,
            "source": self.source,
        }


def measure(sampler: Any, seconds: float) -> Baseline:
    """Read ``sampler`` (a :class:`~wattprint.tracking.sampler.Sampler`) across ``seconds`` of idle time.

    The sampler's background thread keeps counters safe from wraps meanwhile
    when a listener is subscribed; a plain sleep is enough for spans shorter
    than the wrap bound, which is why long spans are read in slices.
    """
    if not seconds > 0:
        raise ValueError(f"baseline duration must be positive, got {seconds}")
    a = sampler.read_now()
    remaining = seconds
    step = min(seconds, sampler.wrap_bound_s or seconds)
    while remaining > 0:
        time.sleep(min(step, remaining))
        remaining -= step
        sampler.read_now()
    b = sampler.read_now()
    dt = (b.t_ns - a.t_ns) / 1e9
    power = {n: (b.totals[n] - a.totals.get(n, 0.0)) / dt for n in b.totals}
    return Baseline(hostname(), a.wall, dt, power)
