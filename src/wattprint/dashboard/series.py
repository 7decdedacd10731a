"""The run page's power chart: the stored timeline reduced on the server, per channel.

A week at one interval a second is 604,800 stored intervals; the browser gets
at most :data:`POINTS` steps per channel. Two existing reductions do the work,
so the chart shows the numbers the reports show:

1. :func:`wattprint.tracking.timeline.downsample` streams the stored timeline
   (``iter_timeline``, a few chunks at a time) into at most about
   :data:`CACHE_ROWS` rows, each a union of whole stored intervals within one
   UTC hour (energy summed exactly). That pass reads every row once, so its
   result is kept (a small LRU keyed by run id and stored interval count: a
   run still being written gets a fresh one as it grows).
2. :func:`wattprint.report.html_chart.power_series` (the HTML report's chart
   data) groups those rows into at most ``points`` buckets of consecutive rows;
   a bucket's power is its energy over the time its rows cover, so the area
   under each step line is the measured energy. Channels are handed to it as
   their own "components", which makes its per-component lines per-channel lines.

The first chart of a long run costs one pass over its stored rows (the figures
are in ``benchmarks/RESULTS.md``), so :meth:`SeriesCache.warm` makes that pass
ahead of time for the newest long runs (the server starts it in a background
thread); a request for a run being reduced waits for that pass instead of
making a second one.

Zoom asks for a time range. When the cached rows are too coarse for it (fewer
than ``points / 2`` of them in the range, while the run has more stored
intervals than cached rows), the range is read again from the store at full
resolution, keeping only the rows inside it.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Protocol

from wattprint.report.html_chart import COLORS, OTHER_COLORS, power_series
from wattprint.tracking.measure import Interval
from wattprint.tracking.timeline import downsample

POINTS = 800  # steps per channel sent to the browser (about one per horizontal pixel)
MAX_POINTS = 4000  # the most a request may ask for
CACHE_ROWS = 10_000  # rows kept per cached run (downsample keeps between 1x and 2x this)
CACHE_RUNS = 4  # runs whose reduced timeline is kept


class TimelineSource(Protocol):
    """What this module reads of a store: its public timeline methods."""

    def count_intervals(self, run_id: str) -> int: ...

    def iter_timeline(self, run_id: str, batch: int = 256) -> Iterable[Interval]: ...


class SeriesCache:
    """Reduced timelines of the runs looked at last, and the chart series cut from them."""

    def __init__(self, store: TimelineSource, *, rows: int = CACHE_ROWS, runs: int = CACHE_RUNS) -> None:
        self._store = store
        self._rows = rows
        self._runs = runs
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, int], list[Interval]] = OrderedDict()
        self._pending: dict[tuple[str, int], threading.Lock] = {}  # reductions under way

    def _cached(self, key: tuple[str, int]) -> list[Interval] | None:
        with self._lock:
            rows = self._cache.get(key)
            if rows is not None:
                self._cache.move_to_end(key)
            return rows

    def _reduced(self, run_id: str, count: int, span_s: float) -> list[Interval]:
        key = (run_id, count)
        rows = self._cached(key)
        if rows is not None:
            return rows
        with self._lock:
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:  # one pass per run: a second caller waits for the first one's rows
            rows = self._cached(key)
            if rows is not None:
                return rows
            try:
                rows, _ = downsample(self._store.iter_timeline(run_id), self._rows, span_s)
            finally:
                with self._lock:
                    self._pending.pop(key, None)
            with self._lock:
                for old in [k for k in self._cache if k[0] == run_id]:
                    del self._cache[old]  # an older read of a run still growing
                self._cache[key] = rows
                while len(self._cache) > self._runs:
                    self._cache.popitem(last=False)
        return rows

    def warm(self, runs: Iterable[dict[str, Any]]) -> int:
        """Reduce ahead of time the timelines of ``runs`` (headers) that need it: those with more
        stored intervals than the cache keeps. Returns how many were reduced; a run that cannot
        be read is skipped (its page will say why)."""
        done = 0
        for run in list(runs)[: self._runs]:
            try:
                count = self._store.count_intervals(run["id"])
                if count > self._rows:
                    self._reduced(run["id"], count, float(run.get("duration_s") or 0.0))
                    done += 1
            except Exception:  # a warm-up never takes the server down
                continue
        return done

    def series(self, run: dict[str, Any], *, t0: float | None = None, t1: float | None = None,
               points: int = POINTS) -> dict[str, Any]:
        """The chart data of ``run`` (a stored run's header with its channels) over ``[t0, t1]``
        (seconds since the run's start; the whole run when not given)."""
        run_id = run["id"]
        count = self._store.count_intervals(run_id)
        rows = self._reduced(run_id, count, float(run.get("duration_s") or 0.0))
        zoomed = t0 is not None or t1 is not None
        lo = -math.inf if t0 is None else t0
        hi = math.inf if t1 is None else t1
        picked = [iv for iv in rows if iv.t1_s > lo and iv.t0_s < hi] if zoomed else rows
        exact = count <= len(rows)
        if zoomed and not exact and len(picked) < points // 2:
            picked = [iv for iv in self._store.iter_timeline(run_id) if iv.t1_s > lo and iv.t0_s < hi]
            exact = True
        return chart_data(run, picked, points, intervals=count, exact=exact)


def channel_colors(channels: list[dict[str, Any]]) -> dict[str, str]:
    """A colour per channel: its component's colour (as in the HTML report) for the first
    channel of each component, the report's other colours for the rest."""
    out: dict[str, str] = {}
    used: set[str] = set()
    spare = 0
    for c in channels:
        comp = c["component"]
        if comp in COLORS and comp not in used:
            out[c["name"]] = COLORS[comp]
            used.add(comp)
        else:
            out[c["name"]] = OTHER_COLORS[spare % len(OTHER_COLORS)]
            spare += 1
    return out


def chart_data(run: dict[str, Any], rows: list[Interval], points: int, *, intervals: int,
               exact: bool) -> dict[str, Any]:
    """The JSON the page draws: ``t`` (step spans, s since start), ``w`` (W per channel and
    ``total``, the channels that count), the channels (name, component, method, colour)."""
    chans = sorted(run["channels"].values(), key=lambda c: c["name"])
    as_report = {
        "timeline": {"rows": [{"t0_s": iv.t0_s, "t1_s": iv.t1_s, "energy_j": iv.energy_j} for iv in rows]},
        "channels": [{"name": c["name"], "component": c["name"], "in_total": c["in_total"]} for c in chans],
        "components": [{"component": c["name"]} for c in chans],
    }
    series = power_series(as_report, max(1, min(points, MAX_POINTS)))
    colors = channel_colors(chans)
    return {
        "run": run["id"],
        "t": [[a, b] for a, b in series["t"]],
        "w": series["w"],
        "channels": [
            {"name": c["name"], "component": c["component"], "method": c["method"], "in_total": c["in_total"],
             "color": colors[c["name"]]}
            for c in chans
        ],
        "total_color": COLORS["total"],
        "rows": len(rows),
        "intervals": intervals,
        "exact": exact,
        "duration_s": run.get("duration_s"),
    }
