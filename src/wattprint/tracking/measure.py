"""The live side of a span's figures: channel totals, timeline intervals, measurements.

A :class:`Measurement` is a span of time with cumulative energy per channel,
turned into emissions with a resolved :class:`~wattprint.intensity.base.Intensity`.
:class:`~wattprint.tracking.run.Run` and :class:`~wattprint.tracking.run.Window`
are Measurements. As data (``to_dict()``, the store, ``--json``, reports) the
same figures take the one shape described in :mod:`wattprint.tracking.record`,
which is also what a stored run reads back as.
"""

from __future__ import annotations

from wattprint._record import Record
from wattprint.tracking.progress import Counts, PerUnit, per_unit, record_of
from wattprint.units import combined_band, j_to_kwh

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from wattprint.intensity.base import Intensity
    from wattprint.tracking.record import (
        ChannelRecord,
        IntervalRecord,
        SpanTotals,
        WindowRecord,
        WindowStatsRecord,
    )


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

    def to_dict(self) -> ChannelRecord:
        return {
            "name": self.name,
            "component": self.component,
            "method": self.method,
            "band": self.band,
            "energy_j": self.energy_j,
            "in_total": self.in_total,
            "detail": self.detail,
            "emissions_g": self.emissions_g,
        }


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

    def to_dict(self) -> IntervalRecord:
        """The timeline row's record (``wall0`` is named ``start_utc`` there)."""
        return {"t0_s": self.t0_s, "t1_s": self.t1_s, "start_utc": self.wall0, "energy_j": self.energy_j}


def _union_length(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def window_stats(windows: list[WindowRecord], run_s: float) -> dict[str, WindowStatsRecord]:
    """Per window name: calls, total/mean/min/max energy (J), seconds, share of run time.

    ``estimated_calls`` counts the calls with an estimated channel (a short
    window). ``duration_s`` adds up calls (so concurrent calls from several
    threads can exceed the run's length); ``time_share`` is the part of the
    run during which at least one call was open. Sorted by total energy,
    largest first.
    """
    stats: dict[str, WindowStatsRecord] = {}
    spans: dict[str, list[tuple[float, float]]] = {}
    for w in windows:
        st = stats.setdefault(
            w["name"],
            {"calls": 0, "energy_j": 0.0, "min_j": float("inf"), "max_j": 0.0, "duration_s": 0.0,
             "estimated_calls": 0, "mean_j": 0.0, "time_share": 0.0},
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
    user gave a contractual factor. Units of work counted during the span
    (``run.step(...)``) give the figures per step, sample and token (:meth:`per`).
    In a notebook a span shows itself as a small table (``_repr_html_``).
    """

    kind = "span"  # what repr() calls it: run, window

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
    def power_w(self) -> float:
        """Mean power in watts over the span (0 for a span of no length)."""
        d = self.duration_s
        return self.energy_j / d if d > 0 else 0.0

    # -- units of work ----------------------------------------------------------------

    def counts(self) -> Counts:
        """``(steps, samples, tokens)`` counted during the span."""
        return getattr(self, "_counts", (0, 0, 0))

    @property
    def steps(self) -> int:
        """Steps counted during the span (``run.step()``)."""
        return int(self.counts()[0])

    @property
    def samples(self) -> int:
        """Samples counted during the span (``run.step(samples=n)``)."""
        return int(self.counts()[1])

    @property
    def tokens(self) -> int:
        """Tokens counted during the span (``run.step(tokens=n)``)."""
        return int(self.counts()[2])

    def per(self, unit: str) -> PerUnit | None:
        """Energy (J) and location-based emissions (g) per ``"step"``, ``"sample"`` or ``"token"``.

        None when no such unit was counted; ``emissions_g`` is NaN while the
        intensity is not known.
        """
        return per_unit(self.counts(), unit, self.energy_j, self.emissions_g)

    # -- how it shows (repr, notebooks) -------------------------------------------------

    def __repr__(self) -> str:
        from wattprint.tracking.display import text

        return text(self)

    def _repr_markdown_(self) -> str:
        from wattprint.tracking.display import markdown

        return markdown(self)

    def _repr_html_(self) -> str:
        from wattprint.tracking.display import html

        return html(self)

    @property
    def energy_kwh(self) -> float:
        """Total energy in kWh."""
        return j_to_kwh(self.energy_j)

    @property
    def band(self) -> float:
        """Relative uncertainty of :attr:`energy_j` (see :func:`wattprint.units.combined_band`)."""
        return combined_band((c.energy_j, c.band) for c in self.channels.values() if c.in_total)

    @property
    def methods(self) -> list[str]:
        """Distinct methods behind the total, best first."""
        order = ["counter", "power-integrated", "modelled"]
        found = {c.method for c in self.channels.values() if c.in_total}
        return [m for m in order if m in found]

    def totals_dict(self) -> SpanTotals:
        """The fields every span shares (its record without the channels)."""
        d: SpanTotals = {
            "name": self.name,
            "start_utc": self.start_wall,
            "duration_s": self.duration_s,
            "energy_j": self.energy_j,
            "energy_kwh": self.energy_kwh,
            "band": self.band,
            "emissions_g": self.emissions_g,
            "market_emissions_g": self.market_emissions_g,
        }
        progress = record_of(self.counts())
        if progress is not None:
            d["progress"] = progress
        return d

    def channels_dict(self) -> dict[str, ChannelRecord]:
        """The per-channel part of the span's record."""
        return {n: c.to_dict() for n, c in self.channels.items()}
