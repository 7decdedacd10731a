"""What-if: a stored run's emissions recomputed for another grid, PUE or start time.

The measured energy stays what it was; only the factors that turn it into
CO2e change. Each scenario is an :class:`~wattprint.intensity.base.Intensity`
(resolved by the caller exactly as a run's would be, so a cloud region maps to
the same grid and PUE as a run there) and an optional shift of the start time.

Emissions are priced the way a run is priced (:meth:`Run.price`): each
timeline interval at the intensity of the moment it ran, shifted, times PUE.
With an embedded (annual) figure the start time changes nothing; with the
live series a provider gave the run, a shifted interval takes the series'
figures for its new time where the series covers it (by time overlap), and the annual
figure elsewhere, and the row says how much of the energy that was.

Ranges: the energy's own band (the run's measurement uncertainty) carried
into grams. The grid figures' own uncertainty is not known per row and is not
added; the rows say which dataset and year each figure comes from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from wattprint._record import Record
from wattprint.intensity.base import Intensity
from wattprint.tracking.measure import Interval
from wattprint.units import emissions_g


class Scenario(Record):
    """One row to compute: a label, the intensity to price with, a start-time shift (s)."""

    __slots__ = ("label", "intensity", "shift_s")

    def __init__(self, label: str, intensity: Intensity, shift_s: float = 0.0) -> None:
        self.label = label
        self.intensity = intensity
        self.shift_s = shift_s


def priced(intervals: Iterable[Interval], channels_in_total: set[str], intensity: Intensity,
           shift_s: float = 0.0) -> tuple[float, float, float]:
    """(grams, joules, joules priced from the live series) for the in-total channels'
    energy of ``intervals``, each moved by ``shift_s`` and priced as a run prices it: by
    time overlap with the series (:meth:`Intensity.mean_over`), the annual figure elsewhere."""
    grams = joules = from_series = 0.0
    for iv in intervals:
        e = sum(v for k, v in iv.energy_j.items() if k in channels_in_total)
        if e == 0.0:
            continue
        length = iv.t1_s - iv.t0_s
        w0 = iv.wall0 + shift_s
        g, live_s = intensity.mean_over(w0, w0 + length)
        grams += emissions_g(e, g, intensity.pue)
        joules += e
        if length > 0:
            from_series += e * min(1.0, live_s / length)
    return grams, joules, from_series


def _row(label: str, intensity: Intensity, grams: float, energy_j: float, band: float, actual_g: float | None,
         note: str) -> dict[str, Any]:
    it_kwh = energy_j / 3.6e6
    effective = grams / (it_kwh * intensity.pue) if it_kwh > 0 and intensity.pue > 0 else intensity.g_per_kwh
    return {
        "scenario": label,
        "location": intensity.location,
        "g_per_kwh": effective,
        "pue": intensity.pue,
        "emissions_g": grams,
        "low_g": grams * (1 - band),
        "high_g": grams * (1 + band),
        "change": None if not actual_g else grams / actual_g - 1,
        "source": f"{intensity.source}" + (f" ({intensity.year})" if intensity.year else ""),
        "pue_source": intensity.pue_source,
        "note": note,
    }


def whatif(run: dict[str, Any], timeline: Callable[[], Iterable[Interval]] | None,
           scenarios: Iterable[Scenario]) -> list[dict[str, Any]]:
    """The run as measured (first row), then one row per scenario.

    ``run`` is a stored run record (``get_run(..., timeline=False)``); ``timeline()``
    gives a fresh stream of its intervals (``iter_timeline``), read once per scenario
    that has a live series, so a week-long run is never held in memory. A scenario
    without a series prices the total energy at its annual figure (the same sum: a
    constant price), as does a run without a timeline (an old or a killed run).
    """
    energy_j = float(run.get("energy_j") or 0.0)
    band = float(run.get("band") or 0.0)
    in_total = {n for n, c in (run.get("channels") or {}).items() if c.get("in_total")}
    actual = run.get("emissions_g")
    own = Intensity.from_dict(run["intensity"]) if run.get("intensity") else None
    rows: list[dict[str, Any]] = []
    if own is not None:
        rows.append(_row("as measured", own, float(actual or 0.0), energy_j, band, None,
                         "the run's stored figure"))
    for sc in scenarios:
        note = ""
        if sc.intensity.series and timeline is not None and in_total:
            grams, joules, from_series = priced(timeline(), in_total, sc.intensity, sc.shift_s)
            if joules < energy_j * 0.999:  # the timeline holds less than the total (a killed run)
                grams += emissions_g(energy_j - joules, sc.intensity.g_per_kwh, sc.intensity.pue)
        else:
            grams, from_series = emissions_g(energy_j, sc.intensity.g_per_kwh, sc.intensity.pue), 0.0
        if sc.shift_s:
            if not sc.intensity.series:
                note = "annual figure: the start time changes nothing without an hourly series"
            elif energy_j > 0 and from_series < energy_j:
                share = 1 - from_series / energy_j
                note = (f"{share:.0%} of the energy fell outside the stored hourly series and was priced at "
                        "the annual figure")
        rows.append(_row(sc.label, sc.intensity, grams, energy_j, band,
                         float(actual) if actual else None, note))
    return rows
