"""The result data model shared by runs, windows, the store and reports.

A :class:`Measurement` is a span of time with cumulative energy per channel,
turned into emissions with a resolved :class:`~wattprint.intensity.base.Intensity`.
:class:`~wattprint.tracking.run.Run` (a live, tracked span) and stored runs read back
from the database are both Measurements, so reports never care which.
"""

from __future__ import annotations

from wattprint._record import Record
from wattprint.units import j_to_kwh

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from typing import Any

    from wattprint.intensity.base import Intensity


class ChannelTotal(Record):
    """Energy of one channel over a span, with how it is known."""

    __slots__ = ("name", "component", "method", "band", "energy_j", "in_total", "detail", "emissions_g")

    def __init__(
        self,
        name: str,
        component: str,
        method: str,
        band: float,
        energy_j: float = 0.0,
        in_total: bool = True,
        detail: str = "",
        emissions_g: float = 0.0,
    ) -> None:
        self.name = name
        self.component = component
        self.method = method
        self.band = band
        self.energy_j = energy_j
        self.in_total = in_total
        self.detail = detail
        self.emissions_g = emissions_g

    def to_dict(self) -> dict[str, object]:
        return self._asdict()


class Interval(Record):
    """One row of the timeline: energy per channel between two instants.

    ``t0_s``/``t1_s`` are seconds since the run started (monotonic clock),
    ``wall0`` the UTC epoch seconds at ``t0_s``.
    """

    __slots__ = ("t0_s", "t1_s", "wall0", "energy_j")

    def __init__(self, t0_s: float, t1_s: float, wall0: float, energy_j: dict[str, float]) -> None:
        self.t0_s = t0_s
        self.t1_s = t1_s
        self.wall0 = wall0
        self.energy_j = energy_j


def combined_band(channels: list[ChannelTotal]) -> float:
    """Relative band of a sum of channels: energy-weighted mean of their bands.

    This assumes the channels' errors can all lean the same way (a shared
    model, a shared calibration bias) — the conservative choice; an
    independent-errors sum would be narrower.
    """
    total = sum(c.energy_j for c in channels if c.in_total)
    if total <= 0:
        return max((c.band for c in channels if c.in_total), default=0.0)
    return sum(c.energy_j * c.band for c in channels if c.in_total) / total


def _union_length(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def window_stats(windows: list[dict[str, Any]], run_s: float) -> dict[str, dict[str, float]]:
    """Per window name: calls, total/mean/min/max energy (J), seconds, share of run time.

    ``windows`` are dicts with ``name``, ``offset_s``, ``energy_j``,
    ``duration_s`` and ``estimated`` (non-empty when a short window was
    estimated). ``duration_s`` adds up calls (so concurrent calls from several
    threads can exceed the run's length); ``time_share`` is the part of the
    run during which at least one call was open. Sorted by total energy,
    largest first.
    """
    stats: dict[str, dict[str, float]] = {}
    spans: dict[str, list[tuple[float, float]]] = {}
    for w in windows:
        st = stats.setdefault(
            w["name"],
            {"calls": 0, "energy_j": 0.0, "min_j": float("inf"), "max_j": 0.0, "duration_s": 0.0,
             "estimated_calls": 0},
        )
        st["calls"] += 1
        st["energy_j"] += w["energy_j"]
        st["min_j"] = min(st["min_j"], w["energy_j"])
        st["max_j"] = max(st["max_j"], w["energy_j"])
        st["duration_s"] += w["duration_s"]
        st["estimated_calls"] += 1 if w.get("estimated") else 0
        spans.setdefault(w["name"], []).append((w["offset_s"], w["offset_s"] + w["duration_s"]))
    for name, st in stats.items():
        st["mean_j"] = st["energy_j"] / st["calls"]
        st["time_share"] = min(1.0, _union_length(spans[name]) / run_s) if run_s > 0 else 0.0
    return dict(sorted(stats.items(), key=lambda kv: -kv[1]["energy_j"]))


class Measurement:
    """Energy and emissions of a span of time.

    Energy is the sum of the channels with ``in_total`` (never ``psys``
    together with packages). Emissions are location-based
    (Σ energy × intensity × PUE); ``market_emissions_g`` is set only when the
    user gave a contractual factor.
    """

    def __init__(
        self,
        name: str,
        start_wall: float,
        duration_s: float,
        channels: dict[str, ChannelTotal] | None = None,
        intensity: Intensity | None = None,
        emissions_g: float = 0.0,
        market_emissions_g: float | None = None,
    ) -> None:
        self.name = name
        self.start_wall = start_wall
        self.duration_s = duration_s
        self.channels: dict[str, ChannelTotal] = channels if channels is not None else {}
        self.intensity = intensity
        self.emissions_g = emissions_g
        self.market_emissions_g = market_emissions_g

    @property
    def energy_j(self) -> float:
        """Total energy in joules over the channels that count."""
        return sum(c.energy_j for c in self.channels.values() if c.in_total)

    @property
    def energy_kwh(self) -> float:
        """Total energy in kWh."""
        return j_to_kwh(self.energy_j)

    @property
    def band(self) -> float:
        """Relative uncertainty of :attr:`energy_j` (see :func:`combined_band`)."""
        return combined_band(list(self.channels.values()))

    @property
    def methods(self) -> list[str]:
        """Distinct methods behind the total, best first."""
        order = ["counter", "power-integrated", "modelled"]
        found = {c.method for c in self.channels.values() if c.in_total}
        return [m for m in order if m in found]

    def base_dict(self) -> dict[str, object]:
        """The fields every span shares, with the names used by the JSON export."""
        return {
            "name": self.name,
            "start_utc": self.start_wall,
            "duration_s": self.duration_s,
            "energy_j": self.energy_j,
            "energy_kwh": self.energy_kwh,
            "band": self.band,
            "emissions_g": self.emissions_g,
            "market_emissions_g": self.market_emissions_g,
            "channels": {n: c.to_dict() for n, c in self.channels.items()},
        }
