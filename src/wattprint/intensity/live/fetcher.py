"""Live values gathered as a run goes: a background fetcher, and the run's last fetch.

A week-long run must not end with one giant request (providers bound a request's span,
and the free Electricity Maps tier only holds the last 24 hours). The tracker owns one
:class:`LiveFetcher` per run: every ``live_fetch_every_s`` its thread asks for what is
not settled yet (from the first span without an actual value up to now), so at the
end only the tail is left. Nothing waits for it: the sampler never sees it and
``stop()`` only sets its event; a request in flight is left to finish on its own (it is
bounded by the provider's budget).
"""

from __future__ import annotations

import threading
import time

from wattprint._threads import new_thread
from wattprint.intensity.live.cache import DiskCache
from wattprint.intensity.live.common import Point, Rejected, merge_points
from wattprint.intensity.live.provider import LiveProvider


class LiveFetcher:
    """One provider's values over a span that starts at ``start_utc`` and is still growing."""

    def __init__(self, provider: LiveProvider, cache: DiskCache | None, start_utc: float,
                 every_s: float = 3600.0) -> None:
        self.provider = provider
        self.cache = cache
        self.start_utc = start_utc
        self.every_s = every_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.points: list[Point] = []
        self.rejected: list[Rejected] = []
        self.problems: list[str] = []
        self.requests = 0
        self.cached_days = 0
        self.fetches = 0

    def start(self) -> None:
        """Fetch in the background every ``every_s`` until :meth:`stop`."""
        t = new_thread(self._loop, "wattprint-live-fetch")
        t.start()

    def stop(self) -> None:
        """No more background fetches (returns at once; a request in flight ends by itself)."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.fetch_until(time.time())
            except Exception as exc:  # noqa: BLE001 - a background thread never raises into the job
                with self._lock:
                    self.problems.append(f"{self.provider.name}: background fetch failed "
                                         f"({type(exc).__name__})")

    def settled_until(self) -> float:
        """The end of the span from ``start_utc`` that actual (or estimated) values cover."""
        t = self.start_utc
        with self._lock:
            for p in self.points:
                if p[1] <= t:
                    continue
                if p[0] > t or p[3] == "forecast":
                    break
                t = p[1]
        return t

    def fetch_until(self, end_utc: float, deadline: float | None = None) -> None:
        """Ask for what is not settled up to ``end_utc`` (within the provider's budget)."""
        if deadline is None:
            deadline = time.monotonic() + self.provider.budget_s
        start = self.settled_until()
        if end_utc <= start:
            return
        got = self.provider.series(start, end_utc, deadline=deadline, cache=self.cache)
        with self._lock:
            self.points = merge_points(self.points, got.points)
            self.rejected += [r for r in got.rejected if r not in self.rejected]
            self.problems = got.problems  # only the latest attempt's: earlier ones were retried
            self.requests += got.requests
            self.cached_days += got.cached_days
            self.fetches += 1

    def snapshot(self, start_utc: float, end_utc: float) -> tuple[list[Point], list[str], list[str]]:
        """(points overlapping the span, lines for the refused values that would have priced
        part of it, problems of the last attempt)."""
        with self._lock:
            pts = [p for p in self.points if p[1] > start_utc and p[0] < end_utc]
            faults = [r[2] for r in self.rejected if r[1] > start_utc and r[0] < end_utc]
            return pts, faults, list(self.problems)
