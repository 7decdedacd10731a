"""Greener start times from a provider's forecast: the mean intensity of every window a job
of a given length could run in, and the best ones.

A candidate start is *now* or any boundary of the forecast's own steps (a half-hour,
an hour, five minutes) up to ``within`` seconds ahead; a candidate counts only when the
forecast covers its whole window (a job that would end past the forecast's horizon is
not ranked on a guess). Each window's figure is the time-weighted mean of the values it
overlaps. Nothing here touches the network: :mod:`wattprint.cli.when` fetches the points.
"""

from __future__ import annotations

from wattprint._record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    Point = tuple[float, float, float, str]

COVER_TOLERANCE_S = 1.0  # gaps smaller than this (rounding in providers' times) are not gaps


class Start(Record):
    """A candidate start (UTC seconds) and the mean g/kWh over the job's window from it."""

    __slots__ = ("t", "g_per_kwh")

    def __init__(self, t: float, g_per_kwh: float) -> None:
        self.t = t
        self.g_per_kwh = g_per_kwh


def window_mean(points: Sequence[Point], t0: float, t1: float) -> float | None:
    """Time-weighted mean of ``points`` (sorted, not overlapping) over ``[t0, t1]``, or None
    when they leave part of it uncovered."""
    covered = weighted = 0.0
    for a, b, g, _ in points:
        if b <= t0:
            continue
        if a >= t1:
            break
        span = min(b, t1) - max(a, t0)
        covered += span
        weighted += g * span
    if t1 - t0 - covered > COVER_TOLERANCE_S or covered <= 0:
        return None
    return weighted / covered


def starts(points: Sequence[Point], now: float, duration_s: float, within_s: float) -> list[Start]:
    """Every candidate start from ``now`` to ``now + within_s`` whose window the forecast covers,
    in time order (see the module)."""
    pts = sorted(points)
    times = {now} | {a for a, _, _, _ in pts if now < a <= now + within_s}
    out = []
    for t in sorted(times):
        mean = window_mean(pts, t, t + duration_s)
        if mean is not None:
            out.append(Start(t, mean))
    return out


def best(candidates: Sequence[Start], top: int) -> list[Start]:
    """The ``top`` lowest-intensity starts (earliest first among equals)."""
    return sorted(candidates, key=lambda s: (s.g_per_kwh, s.t))[:top]
