"""What the rest of wattprint knows about grid intensity: one resolved :class:`Intensity`.

The run asks :func:`wattprint.intensity.resolve.resolve` once, at start, for
the location (explicit setting → cloud metadata → world average, every step
recorded) and its intensity. A live provider may later attach its series at its
own resolution (an hour, a half-hour, five minutes): :meth:`Intensity.mean_over`
prices any span of time by overlap with it, the embedded figure filling what no
live value covers.
"""

from __future__ import annotations

import bisect
import math

from wattprint._record import Record
from wattprint.errors import LocationError  # noqa: F401 - re-exported: raised by intensity lookups

TYPE_CHECKING = False  # not from typing: this module is on the ``import wattprint`` path
if TYPE_CHECKING:
    from typing import Any

    from wattprint.intensity.record import IntensityRecord

Point = tuple  # (t0 UTC, t1 UTC, g/kWh, quality): see wattprint.intensity.live.common
_LISTS = ("chain", "warnings", "series", "marginal", "live_faults", "alternatives")
_DICTS = ("basis", "live_basis", "marginal_basis")


def _start(p: tuple[Any, ...]) -> float:
    return float(p[0])


def overlap(points: list[Point], w0: float, w1: float) -> tuple[float, float]:
    """(Σ g × seconds, seconds covered) of ``points`` (sorted, disjoint) over ``[w0, w1)``."""
    if not points or w1 <= w0:
        return 0.0, 0.0
    i = max(0, bisect.bisect_right(points, w0, key=_start) - 1)
    gs = covered = 0.0
    while i < len(points) and points[i][0] < w1:
        t0, t1, g = points[i][0], points[i][1], points[i][2]
        s = min(w1, t1) - max(w0, t0)
        if s > 0:
            gs += g * s
            covered += s
        i += 1
    return gs, covered


class Intensity(Record):
    """Grid carbon intensity for a run, with its provenance.

    ``g_per_kwh`` is the location-based average (gCO2e per kWh) used where no
    live value is known. ``source`` names the dataset and licence, ``year``
    its vintage, ``basis`` what kind of figure it is: keys ``scope``
    (lifecycle/direct), ``gas`` (CO2e/CO2), ``signal`` (average/marginal),
    ``accounting`` (consumption/generation); a missing key is unknown.
    ``location`` is the grid code (``FR``, ``US-CA``, ``WORLD``),
    ``fallback`` is True when no location was known and the world average was
    used. ``chain`` records every step of the location chain ("flag --country
    FR", "aws metadata: no answer in 300 ms" ...). ``pue`` multiplies energy
    (1.0 for a personal machine). ``market_g_per_kwh`` is a contractual
    factor given by the user (market-based, GHG Protocol scope 2), or None.

    Live values, each ``(t0, t1, g/kWh, quality)`` at the provider's resolution,
    sorted and disjoint: ``series`` (average intensity: replaces the embedded
    figure where it covers, from ``live_source`` on ``live_basis``) and
    ``marginal`` (a marginal rate such as WattTime's MOER, ``marginal_source`` on
    ``marginal_basis``: priced as a figure of its own). ``live_faults`` are the
    values a provider sent that were rejected. ``applied`` is filled when a run is
    priced: what it really used (see :func:`wattprint.tracking.pricing.applied`).

    ``site`` is the kind of place the machine is in (personal, datacentre, aws, gcp,
    azure), which gives the PUE, and ``site_source`` says why. ``place`` names where
    the energy is drawn in words (a cloud region and its location, a grid's name).
    ``alternatives`` lists other defensible figures for the same place that differ
    from the one used by more than 20 %.
    """

    __slots__ = ("g_per_kwh", "source", "location", "year", "fallback", "pue", "pue_source", "chain",
                 "warnings", "market_g_per_kwh", "market_source", "series", "live_source", "basis",
                 "live_basis", "marginal", "marginal_source", "marginal_basis", "live_faults", "applied",
                 "site", "site_source", "place", "alternatives")

    def __init__(
        self,
        g_per_kwh: float,
        source: str,
        location: str,
        year: int | None = None,
        fallback: bool = False,
        pue: float = 1.0,
        pue_source: str = "personal machine (no data centre overhead)",
        chain: list[str] | None = None,
        warnings: list[str] | None = None,
        market_g_per_kwh: float | None = None,
        market_source: str | None = None,
        series: list[Point] | None = None,
        live_source: str | None = None,
        basis: dict[str, str] | None = None,
        live_basis: dict[str, str] | None = None,
        marginal: list[Point] | None = None,
        marginal_source: str | None = None,
        marginal_basis: dict[str, str] | None = None,
        live_faults: list[str] | None = None,
        applied: dict[str, Any] | None = None,
        site: str | None = None,
        site_source: str | None = None,
        place: str | None = None,
        alternatives: list[str] | None = None,
    ) -> None:
        self.g_per_kwh = g_per_kwh
        self.source = source
        self.location = location
        self.year = year
        self.fallback = fallback
        self.pue = pue
        self.pue_source = pue_source
        self.chain: list[str] = chain if chain is not None else []
        self.warnings: list[str] = warnings if warnings is not None else []
        self.market_g_per_kwh = market_g_per_kwh
        self.market_source = market_source
        self.series: list[Point] = series if series is not None else []
        self.live_source = live_source
        self.basis: dict[str, str] = basis if basis is not None else {}
        self.live_basis: dict[str, str] = live_basis if live_basis is not None else {}
        self.marginal: list[Point] = marginal if marginal is not None else []
        self.marginal_source = marginal_source
        self.marginal_basis: dict[str, str] = marginal_basis if marginal_basis is not None else {}
        self.live_faults: list[str] = live_faults if live_faults is not None else []
        self.applied = applied
        self.site = site
        self.site_source = site_source
        self.place = place
        self.alternatives: list[str] = list(alternatives) if alternatives else []

    def replace(self, **changes: object) -> Intensity:
        """A copy with ``changes`` applied (lists are copied, so the original never moves)."""
        fields = {k: getattr(self, k) for k in self.__slots__}
        for k in _LISTS:
            fields[k] = list(fields[k])
        for k in _DICTS:
            fields[k] = dict(fields[k])
        fields.update(changes)
        return Intensity(**fields)

    def at(self, t_utc: float) -> float:
        """gCO2e/kWh for the moment ``t_utc`` (epoch seconds): the live value if one covers it."""
        gs, s = overlap(self.series, t_utc, math.nextafter(t_utc, math.inf))
        return gs / s if s > 0 else self.g_per_kwh

    def mean_over(self, w0: float, w1: float) -> tuple[float, float]:
        """(g/kWh, seconds with a live value) over ``[w0, w1)``: the time-weighted mean of the
        live values it overlaps, the embedded figure for the rest."""
        if w1 <= w0:
            return self.at(w0), 0.0
        gs, covered = overlap(self.series, w0, w1)
        return (gs + self.g_per_kwh * (w1 - w0 - covered)) / (w1 - w0), covered

    def to_dict(self) -> IntensityRecord:
        """The JSON form used in exports and the store (its texts with secret shapes masked)."""
        from wattprint.privacy import mask_text  # lazily: it needs ``re``

        d: IntensityRecord = {
            "g_per_kwh": self.g_per_kwh,
            "source": self.source,
            "location": self.location,
            "year": self.year,
            "fallback": self.fallback,
            "pue": self.pue,
            "pue_source": self.pue_source,
            "chain": [mask_text(c) for c in self.chain],
            "warnings": [mask_text(w) for w in self.warnings],
            "market_g_per_kwh": self.market_g_per_kwh,
            "market_source": self.market_source,
            "hourly": [],  # read by older wattprint versions; the live values are in "series"
            "live_source": self.live_source,
            "basis": dict(self.basis),
            "series": [list(p) for p in self.series],
            "live_basis": dict(self.live_basis),
            "marginal": [list(p) for p in self.marginal],
            "marginal_source": self.marginal_source,
            "marginal_basis": dict(self.marginal_basis),
            "live_faults": [mask_text(f) for f in self.live_faults],
            "site": self.site,
            "site_source": self.site_source,
            "place": self.place,
            "alternatives": list(self.alternatives),
        }
        if self.applied is not None:
            d["applied"] = dict(self.applied)  # type: ignore[typeddict-item]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Intensity:
        """Inverse of :meth:`to_dict` (unknown keys ignored; a stored ``hourly`` list of
        (hour start, g/kWh) pairs, as older versions wrote, reads as hour-long values)."""
        known: dict[str, Any] = {k: d[k] for k in cls.__slots__ if k in d}
        for k in ("series", "marginal"):
            known[k] = [tuple(p) for p in known.get(k) or []]
        if not known["series"] and d.get("hourly"):
            known["series"] = [(float(h), float(h) + 3600.0, float(g), "actual")
                               for h, g in d["hourly"]]  # type: ignore[attr-defined]
        basis = known.get("basis")
        known["basis"] = ({str(k): str(v) for k, v in basis.items()}
                          if isinstance(basis, dict) else None)
        return cls(**known)
