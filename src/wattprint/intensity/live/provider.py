"""The base of the live providers: spans cut to the provider's limits, cached by day, checked.

A run may last a week; providers answer a bounded span per request (Electricity Maps'
past range 10 days, the UK API 14 days, WattTime 32 days) and rate-limit their free
tiers. :meth:`LiveProvider.series` therefore:

* cuts the span into UTC days, the cache's unit: a day already cached (its answer
  covering the part needed) costs no request;
* asks for the missing days in as few requests as the provider allows (consecutive
  days joined up to ``max_span_s``);
* checks every value (:func:`~wattprint.intensity.live.common.check_points`) and keeps
  the rejected ones as fault lines;
* remembers a failure for a while (``Retry-After`` when the provider sent one, else
  :data:`~wattprint.intensity.live.common.FAILURE_TTL_S`), so the next run or the
  next background fetch does not ask again at once.

Requests stop when the deadline is near; the days fetched so far are kept.
"""

from __future__ import annotations

import hashlib
import time

from wattprint.intensity.live.cache import DiskCache
from wattprint.intensity.live.common import (
    DAY,
    FAILURE_TTL_S,
    HOUR,
    PER_CALL_S,
    LiveError,
    Point,
    Rejected,
    _iso,
    check_points,
    merge_points,
)

# A day is settled (cached for good) once it ended this long ago; fresher ones expire soon.
SETTLED_AFTER_S = 2 * HOUR
FRESH_TTL_S = 15 * 60.0
SETTLED_TTL_S = 30 * DAY


class Fetched:
    """What one :meth:`LiveProvider.series` call found."""

    @property
    def faults(self) -> list[str]:
        """One line per value refused."""
        return [r[2] for r in self.rejected]

    __slots__ = ("points", "rejected", "problems", "cached_days", "requests")

    def __init__(self) -> None:
        self.points: list[Point] = []
        self.rejected: list[Rejected] = []  # (t0, t1, fault line) of each value refused
        self.problems: list[str] = []  # requests that failed or were not made
        self.cached_days = 0
        self.requests = 0


class LiveProvider:
    """Subclasses set the class attributes and implement :meth:`fetch` and :meth:`key_parts`."""

    name = "live"
    source = "live"
    signal = "average"  # or "marginal" (WattTime MOER): its own figure, never the location-based one
    basis: dict[str, str] = {}
    resolution_s = HOUR
    max_span_s = 10 * DAY
    calls = 1  # requests one fetch makes (login + data = 2): the budget is sized by it

    def key_parts(self) -> tuple[str, ...]:
        """What identifies this provider's answers in the cache (zone, base URL ...)."""
        raise NotImplementedError

    def fetch(self, t0: float, t1: float, deadline: float) -> list[Point]:
        """The points of ``[t0, t1)`` (hour-aligned, at most ``max_span_s``), unchecked."""
        raise NotImplementedError

    @property
    def budget_s(self) -> float:
        """Time one call sequence may take: :data:`PER_CALL_S` per request it makes."""
        return PER_CALL_S * self.calls

    def _key(self, *parts: str) -> str:
        return hashlib.sha256("|".join((self.name, *self.key_parts(), *parts)).encode()).hexdigest()[:32]

    def series(self, start: float, end: float, *, deadline: float, cache: DiskCache | None = None,
               now: float | None = None) -> Fetched:
        """Checked points covering ``[start, end]`` as far as known (see the module)."""
        now = time.time() if now is None else now
        out = Fetched()
        a, b = start - start % HOUR, -(-end // HOUR) * HOUR
        if b <= a:
            b = a + HOUR
        missing: list[tuple[float, float]] = []
        day = a - a % DAY
        while day < b:
            need = (max(a, day), min(b, day + DAY))
            hit = cache.get(self._key(str(day))) if cache is not None else None
            if hit is not None and hit["span"][0] <= need[0] and hit["span"][1] >= need[1]:
                out.points = merge_points(out.points, [tuple(p) for p in hit["points"]])
                out.rejected += [(float(a), float(b), str(f)) for a, b, f in hit.get("rejected", [])]
                if isinstance(hit.get("basis"), dict):  # as the provider said it (emissionFactorType)
                    self.basis = {**self.basis, **{str(k): str(v) for k, v in hit["basis"].items()}}
                out.cached_days += 1
            else:
                missing.append(need)
            day += DAY
        if missing:
            self._fetch_missing(missing, deadline, cache, now, out)
        return out

    def _fetch_missing(self, missing: list[tuple[float, float]], deadline: float,
                       cache: DiskCache | None, now: float, out: Fetched) -> None:
        failed = cache.get(self._key("failure")) if cache is not None else None
        if failed is not None:
            out.problems.append(f"{failed.get('why', 'failed')}; not asked again before "
                                f"{_iso(float(failed.get('until', now)))}")
            return
        for g0, g1 in _requests(missing, self.max_span_s):
            try:
                raw = self.fetch(g0, g1, deadline)
            except LiveError as exc:
                wait = exc.retry_after_s if exc.retry_after_s is not None else FAILURE_TTL_S
                if cache is not None and wait > 0 and exc.remember:
                    cache.put(self._key("failure"), {"why": str(exc), "until": now + wait}, ttl_s=wait)
                out.problems.append(str(exc) + (f" (asked to wait {exc.retry_after_s:g} s)"
                                                 if exc.retry_after_s is not None else ""))
                return
            out.requests += 1
            kept, faults = check_points(raw, self.signal)
            out.points = merge_points(out.points, kept)
            out.rejected += faults
            if cache is not None:
                self._cache_days(cache, g0, g1, kept, faults, now)

    def _cache_days(self, cache: DiskCache, g0: float, g1: float, kept: list[Point],
                    faults: list[Rejected], now: float) -> None:
        day = g0 - g0 % DAY
        while day < g1:
            s0, s1 = max(g0, day), min(g1, day + DAY)
            pts = [list(p) for p in kept if s0 <= p[0] < s1]
            settled = s1 + SETTLED_AFTER_S <= now and all(p[3] != "forecast" for p in pts)
            cache.put(self._key(str(day)), {"span": [s0, s1], "points": pts, "basis": dict(self.basis),
                                            "rejected": [list(r) for r in faults if s0 <= r[0] < s1]},
                      ttl_s=SETTLED_TTL_S if settled else FRESH_TTL_S)
            day += DAY


def _requests(missing: list[tuple[float, float]], max_span_s: float) -> list[tuple[float, float]]:
    """Consecutive missing day-parts joined into spans of at most ``max_span_s``."""
    out: list[tuple[float, float]] = []
    for s0, s1 in missing:
        while s0 < s1:
            if out and out[-1][1] == s0 and out[-1][1] - out[-1][0] < max_span_s:
                take = min(s1, out[-1][0] + max_span_s)
                out[-1] = (out[-1][0], take)
            else:
                take = min(s1, s0 + max_span_s)
                out.append((s0, take))
            s0 = take
    return out

