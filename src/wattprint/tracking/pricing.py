"""Pricing a window as the run is priced: from the timeline rows it covers.

The run's emissions are Σ over timeline rows of energy × intensity(row) × PUE,
each row priced whole at the hour of its middle instant (merged rows never
mix hours: see :mod:`wattprint.tracking.timeline`). A window's energy is a
counter difference at its own edges, which need not fall on row edges. It
takes the intensity of the rows it covers, weighted by the energy each row
contributes to it (the row's energy × the share of the row's time inside the
window, per channel): a window inside one row gets that row's price; one
spanning an hour change gets each hour's price in proportion to the energy
drawn in it. Disjoint windows therefore add up to at most the run (exactly
when power is steady within each row; otherwise they may differ by the
energy at the window edges times the price step there).

Time a window spans that no row covers yet (a window priced while the run is
still going, or a gap in the timeline) is split at UTC hour boundaries and
weighted by the window's mean power.
"""

from __future__ import annotations

import bisect

from wattprint.tracking.measure import Interval
from wattprint.tracking.timeline import Timeline

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from collections.abc import Iterator

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


def _hour_pieces(wall0: float, seconds: float) -> Iterator[tuple[float, float]]:
    """(middle instant, length) of the parts of ``[wall0, wall0 + seconds)`` in each UTC hour."""
    t, end = wall0, wall0 + seconds
    while t < end:
        cut = min(end, (t // 3600.0 + 1.0) * 3600.0)
        yield (t + cut) / 2, cut - t
        t = cut


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
            for mid, s in _hour_pieces(wall0 + covered - t0_s, a - covered):
                add(intensity.at(mid), s, None)
        share = (b - a) / length
        add(intensity.at(iv.wall0 + length / 2), b - a, {n: e * share for n, e in iv.energy_j.items()})
        covered = max(covered, b)
    if covered < t1_s:  # not sampled yet
        for mid, s in _hour_pieces(wall0 + covered - t0_s, t1_s - covered):
            add(intensity.at(mid), s, None)
    time_g = by_time[0] / by_time[1] if by_time[1] > 0 else intensity.at(wall0)
    return {n: (gw / w if w > 0 else time_g) for n, (gw, w) in weighed.items()}
