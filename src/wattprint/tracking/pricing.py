"""Pricing by time overlap: the run's rows, a window from the rows it covers, what was used.

The run's emissions are Σ over timeline rows of energy × intensity(row) × PUE,
where intensity(row) is the time-weighted mean of the values the row overlaps
(:meth:`~wattprint.intensity.base.Intensity.mean_over`): a live provider's
half-hours or five-minute values where they cover, the embedded figure elsewhere,
so a row across a half-hour boundary takes each side in proportion. (A merged
row of a long run spans up to an hour: within it power is taken as steady.)

:func:`applied` sums up what a priced run really used: the energy-weighted
intensity, the share of the energy that live values priced, the spans without
one, and the marginal figure when the provider gives a marginal rate.

A window's energy is a
counter difference at its own edges, which need not fall on row edges. It
takes the intensity of the rows it covers, weighted by the energy each row
contributes to it (the row's energy × the share of the row's time inside the
window, per channel): a window inside one row gets that row's price; one
spanning an hour change gets each hour's price in proportion to the energy
drawn in it. Disjoint windows therefore add up to at most the run (exactly
when power is steady within each row; otherwise they may differ by the
energy at the window edges times the price step there).

Time a window spans that no row covers yet (a window priced while the run is
still going, or a gap in the timeline) is priced by overlap too, weighted by
the window's mean power.
"""

from __future__ import annotations

import bisect

from wattprint.intensity.base import overlap
from wattprint.tracking.measure import Interval
from wattprint.tracking.timeline import Timeline
from wattprint.units import emissions_g as _emissions_g
from wattprint.units import utc

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from wattprint.intensity.base import Intensity
    from wattprint.tracking.run import Window


class RowIndex:
    """The rows of a timeline as of ``appended`` rows, with their end times for bisection."""

    __slots__ = ("appended", "rows", "ends")

    def __init__(self, timeline: Timeline) -> None:
        self.appended = timeline.appended  # read first: rows appended meanwhile only add rows
        self.rows: list[Interval] = list(timeline)
        self.ends = [iv.t1_s for iv in self.rows]

    def fresh(self, timeline: Timeline) -> bool:
        """True while no row has been appended to ``timeline`` since this index was made."""
        return self.appended == timeline.appended


def row_g_per_kwh(intensity: Intensity, iv: Interval) -> float:
    """The g/kWh of one timeline row: the values it overlaps, weighted by time."""
    return intensity.mean_over(iv.wall0, iv.wall0 + (iv.t1_s - iv.t0_s))[0]


def window_g_per_kwh(window: Window, intensity: Intensity) -> dict[str, float]:
    """Channel → g/kWh of ``window`` from its run's rows it covers (open: its opening instant's)."""
    run = window.run
    if run._row_index is None or not run._row_index.fresh(run.timeline):
        run._row_index = RowIndex(run.timeline)  # once per row appended, not once per window
    t0 = window.offset_s
    return span_g_per_kwh(intensity, run._row_index, t0, t0 + window.duration_s, window.start_wall,
                          {n: c.energy_j for n, c in window.channels.items()})


def span_g_per_kwh(
    intensity: Intensity, index: RowIndex, t0_s: float, t1_s: float, wall0: float,
    energy_j: dict[str, float],
) -> dict[str, float]:
    """Per channel, the gCO2e/kWh of the window ``[t0_s, t1_s]`` (seconds since the run's
    start, opening at UTC ``wall0``) whose channels drew ``energy_j``: see the module."""
    seconds = t1_s - t0_s
    if seconds <= 0:
        g = intensity.at(wall0)
        return {n: g for n in energy_j}
    weighed = {n: [0.0, 0.0] for n in energy_j}  # channel -> [Σ g × weight, Σ weight]
    by_time = [0.0, 0.0]  # the same with time as the weight, for channels that drew nothing

    def add(g: float, s: float, row: dict[str, float] | None) -> None:
        by_time[0] += g * s
        by_time[1] += s
        for n, acc in weighed.items():
            e = row.get(n, 0.0) if row is not None else energy_j[n] / seconds * s
            acc[0] += g * e
            acc[1] += e

    covered = t0_s  # how far the window is accounted for
    rows, i = index.rows, bisect.bisect_right(index.ends, t0_s)
    while i < len(rows) and rows[i].t0_s < t1_s:
        iv = rows[i]
        i += 1
        a, b, length = max(t0_s, iv.t0_s), min(t1_s, iv.t1_s), iv.t1_s - iv.t0_s
        if b <= a or length <= 0:
            continue
        if a > covered:  # a gap in the timeline
            add(intensity.mean_over(wall0 + covered - t0_s, wall0 + a - t0_s)[0], a - covered, None)
        share = (b - a) / length
        g = intensity.mean_over(iv.wall0 + a - iv.t0_s, iv.wall0 + b - iv.t0_s)[0]
        add(g, b - a, {n: e * share for n, e in iv.energy_j.items()})
        covered = max(covered, b)
    if covered < t1_s:  # not sampled yet
        add(intensity.mean_over(wall0 + covered - t0_s, wall0 + t1_s - t0_s)[0], t1_s - covered, None)
    time_g = by_time[0] / by_time[1] if by_time[1] > 0 else intensity.at(wall0)
    return {n: (gw / w if w > 0 else time_g) for n, (gw, w) in weighed.items()}


MAX_GAPS = 20  # spans without a live value listed in the record (all are counted)


def applied(intensity: Intensity, rows: Iterable[Interval], counted: set[str]) -> tuple[dict[str, Any], list[str]]:
    """(what the run used, warnings) from its timeline ``rows`` and the channels ``counted``
    in its total: see :class:`wattprint.intensity.record.AppliedRecord`."""
    marginal = bool(intensity.marginal)
    e_all = ge = e_live = ge_m = e_m = 0.0
    gaps: list[list[float]] = []
    gap_count = 0
    last_gap_end = float("-inf")
    for iv in rows:
        length = iv.t1_s - iv.t0_s
        if length <= 0:
            continue
        w0, w1 = iv.wall0, iv.wall0 + length
        e = sum(v for n, v in iv.energy_j.items() if n in counted)
        g, avg_s = intensity.mean_over(w0, w1)
        live_s = avg_s  # what the gaps are about: the provider's signal, average or marginal
        if marginal:
            gs, m_s = overlap(intensity.marginal, w0, w1)
            m_share = _share(m_s, length)
            e_m += e * m_share
            ge_m += e * m_share * (gs / m_s if m_s > 0 else 0.0)
            live_s = m_s
        e_all += e
        ge += g * e
        e_live += e * _share(avg_s, length)
        if _share(live_s, length) < 1.0:
            if w0 - last_gap_end < 1e-6:  # goes on from the previous one
                if gap_count <= MAX_GAPS:
                    gaps[-1][1] = w1
            else:
                gap_count += 1
                if gap_count <= MAX_GAPS:
                    gaps.append([w0, w1])
            last_gap_end = w1
    out: dict[str, Any] = {
        "effective_g_per_kwh": ge / e_all if e_all > 0 else None,
        "live_share": e_live / e_all if e_all > 0 else 0.0,
        "gaps": gaps,
        "gap_count": gap_count,
    }
    if marginal:
        out["marginal_emissions_g"] = _emissions_g(e_m, ge_m / e_m, intensity.pue) if e_m > 0 else None
        out["marginal_g_per_kwh"] = ge_m / e_m if e_m > 0 else None
        out["marginal_share"] = e_m / e_all if e_all > 0 else 0.0
    return out, _notes(intensity, out, marginal)


def _share(covered_s: float, length_s: float) -> float:
    """``covered_s / length_s``, with the rounding of wall-clock differences (about a
    microsecond at today's epoch) counted as covered."""
    return 1.0 if length_s - covered_s <= 1e-6 else max(0.0, covered_s / length_s)


def _notes(intensity: Intensity, used: dict[str, Any], marginal: bool) -> list[str]:
    share = used["marginal_share"] if marginal else used["live_share"]
    source = intensity.marginal_source if marginal else intensity.live_source
    notes = []
    if used["gap_count"] and share < 1.0:
        first = utc(used["gaps"][0][0]) if used["gaps"] else "?"
        what = ("the marginal figure covers only the rest" if marginal else
                f"priced at the embedded figure {intensity.g_per_kwh:.2f} gCO2e/kWh")
        notes.append(f"{1 - share:.1%} of the run's energy ({used['gap_count']} span(s), the first from "
                     f"{first}) had no live value from {source}: {what}")
    a, b = intensity.basis, intensity.live_basis
    differs = [k for k in ("scope", "gas") if a.get(k) and b.get(k) and a[k] != b[k]]
    if not marginal and differs and 0.0 < share < 1.0:
        notes.append("the run mixes bases: live values are " + " ".join(b[k] for k in differs)
                     + ", the embedded figure " + " ".join(a[k] for k in differs))
    return notes
