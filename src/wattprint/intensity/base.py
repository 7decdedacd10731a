"""What the rest of wattprint knows about grid intensity: one resolved :class:`Intensity`.

The run asks :func:`wattprint.intensity.resolve.resolve` once, at start, for
the location (explicit setting → cloud metadata → world average, every step
recorded) and its intensity. Live providers may later attach an hourly series
(:meth:`Intensity.at`) so each timeline interval gets the intensity of its hour.
"""

from __future__ import annotations

import bisect

from wattprint._record import Record
from wattprint.errors import LocationError  # noqa: F401 - re-exported: raised by intensity lookups

TYPE_CHECKING = False  # not from typing: this module is on the ``import wattprint`` path
if TYPE_CHECKING:
    from typing import Any

    from wattprint.intensity.record import IntensityRecord


class Intensity(Record):
    """Grid carbon intensity for a run, with its provenance.

    ``g_per_kwh`` is the location-based average (gCO2e per kWh) used when no
    hourly figure is known. ``source`` names the dataset and licence, ``year``
    its vintage. ``location`` is the grid code (``FR``, ``US-CA``, ``WORLD``),
    ``fallback`` is True when no location was known and the world average was
    used. ``chain`` records every step of the location chain ("flag --country
    FR", "aws metadata: no answer in 300 ms" ...). ``pue`` multiplies energy
    (1.0 for a personal machine). ``market_g_per_kwh`` is a contractual
    factor given by the user (market-based, GHG Protocol scope 2), or None.
    ``hourly`` is a sorted list of (hour start, UTC epoch seconds, g/kWh)
    from a live provider; empty when only the embedded figure is known.
    """

    __slots__ = ("g_per_kwh", "source", "location", "year", "fallback", "pue", "pue_source", "chain",
                 "warnings", "market_g_per_kwh", "market_source", "hourly", "live_source")

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
        hourly: list[tuple[float, float]] | None = None,
        live_source: str | None = None,
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
        self.hourly: list[tuple[float, float]] = hourly if hourly is not None else []
        self.live_source = live_source

    def replace(self, **changes: object) -> Intensity:
        """A copy with ``changes`` applied (lists are copied, so the original never moves)."""
        fields = {k: getattr(self, k) for k in self.__slots__}
        for k in ("chain", "warnings", "hourly"):
            fields[k] = list(fields[k])
        fields.update(changes)
        return Intensity(**fields)

    def at(self, t_utc: float) -> float:
        """gCO2e/kWh for the moment ``t_utc`` (epoch seconds): the hour's live figure if known."""
        if self.hourly:
            i = bisect.bisect_right(self.hourly, (t_utc, float("inf"))) - 1
            if i >= 0 and t_utc - self.hourly[i][0] < 3600.0:
                return self.hourly[i][1]
        return self.g_per_kwh

    def to_dict(self) -> IntensityRecord:
        """The JSON form used in exports and the store."""
        return {
            "g_per_kwh": self.g_per_kwh,
            "source": self.source,
            "location": self.location,
            "year": self.year,
            "fallback": self.fallback,
            "pue": self.pue,
            "pue_source": self.pue_source,
            "chain": list(self.chain),
            "warnings": list(self.warnings),
            "market_g_per_kwh": self.market_g_per_kwh,
            "market_source": self.market_source,
            "hourly": [list(h) for h in self.hourly],
            "live_source": self.live_source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Intensity:
        """Inverse of :meth:`to_dict` (unknown keys ignored)."""
        known: dict[str, Any] = {k: d[k] for k in cls.__slots__ if k in d}
        known["hourly"] = [tuple(h) for h in known.get("hourly") or []]
        return cls(**known)


