"""The run page's power chart: the stored timeline reduced on the server, per channel.

A week at one interval a second is 604,800 stored intervals; the browser gets
at most :data:`POINTS` steps per channel. The chart shows the numbers the
reports show:

1. A run of at most ``rows`` (:data:`CACHE_ROWS`) stored intervals is read whole.
   A longer one is read from the store's rollup (:mod:`wattprint.store.rollup`):
   rows that each sum consecutive stored intervals within one UTC minute (or hour,
   for runs longer than :data:`ROLL_ROWS` minutes), written as the run was stored,
   so a week costs about 10,000 rows, not 604,800. A run stored before the
   rollup existed gets it built (one pass over its rows) and stored on first read.
   The rows used are kept (a small LRU keyed by run id and stored interval count:
   a run still being written gets fresh ones as it grows).
2. :func:`wattprint.report.html_chart.power_series` (the HTML report's chart
   data) groups those rows into at most ``points`` buckets of consecutive rows;
   a bucket's power is its energy over the time its rows cover, so the area
   under each step line is the measured energy. Channels are handed to it as
   their own "components", which makes its per-component lines per-channel lines.

:meth:`SeriesCache.warm` prepares the newest long runs (the server starts it in
a background thread): for runs stored before the rollup, that is the one pass
that builds it; a request for a run being prepared waits for that pass instead
of making a second one.

Zoom asks for a time range: the minute rows in it are read (only those). When
they are too coarse for it (fewer than ``points / 2``), the stored intervals they
sum are read instead (only those positions of the timeline), at full resolution.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from wattprint.report.html_chart import COLORS, OTHER_COLORS, power_series
from wattprint.store.rollup import STEPS, Rolled, step_for
from wattprint.tracking.measure import Interval

POINTS = 800  # steps per channel sent to the browser (about one per horizontal pixel)
MAX_POINTS = 4000  # the most a request may ask for
CACHE_ROWS = 10_000  # runs with at most this many stored intervals are read whole
ROLL_ROWS = 20_000  # the finest rollup with at most this many rows over the run is used
CACHE_RUNS = 4  # runs whose rows are kept


class TimelineSource(Protocol):
    """What this module reads of a store: its public timeline methods."""

    def count_intervals(self, run_id: str) -> int: ...

    def iter_timeline(self, run_id: str, batch: int = 256, *, start: int = 0,
                      stop: int | None = None) -> Iterator[Interval]: ...

    def timeline_rollup(self, run_id: str, step: int, t0: float | None = None, t1: float | None = None, *,
                        keep: bool = False) -> list[Rolled]: ...


def _keep(run: dict[str, Any]) -> bool:
    """Whether a rollup built on reading this run is stored: not while it is being written."""
    return run.get("status") != "running"


class SeriesCache:
    """The rows of the runs looked at last, and the chart series cut from them."""

    def __init__(self, store: TimelineSource, *, rows: int = CACHE_ROWS, runs: int = CACHE_RUNS) -> None:
        self._store = store
        self._rows = rows
        self._runs = runs
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, int], list[Interval]] = OrderedDict()
        self._pending: dict[tuple[str, int], threading.Lock] = {}  # reads under way

    def _cached(self, key: tuple[str, int]) -> list[Interval] | None:
        with self._lock:
            rows = self._cache.get(key)
            if rows is not None:
                self._cache.move_to_end(key)
            return rows

    def _read(self, run: dict[str, Any], count: int) -> list[Interval]:
        run_id = run["id"]
        if count <= self._rows:
            return list(self._store.iter_timeline(run_id))
        step = step_for(float(run.get("duration_s") or 0.0), ROLL_ROWS)
        return [r.iv for r in self._store.timeline_rollup(run_id, step, keep=_keep(run))]

    def _reduced(self, run: dict[str, Any], count: int) -> list[Interval]:
        key = (run["id"], count)
        rows = self._cached(key)
        if rows is not None:
            return rows
        with self._lock:
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:  # one read per run: a second caller waits for the first one's rows
            rows = self._cached(key)
            if rows is not None:
                return rows
            try:
                rows = self._read(run, count)
            finally:
                with self._lock:
                    self._pending.pop(key, None)
            with self._lock:
                for old in [k for k in self._cache if k[0] == run["id"]]:
                    del self._cache[old]  # an older read of a run still growing
                self._cache[key] = rows
                while len(self._cache) > self._runs:
                    self._cache.popitem(last=False)
        return rows

    def warm(self, runs: Iterable[dict[str, Any]]) -> int:
        """Read ahead of time the rows of ``runs`` (headers) with more stored intervals than
        are read whole (building and storing the rollup of runs stored before it). Returns
        how many were read; a run that cannot be read is skipped (its page will say why)."""
        done = 0
        for run in list(runs)[: self._runs]:
            try:
                count = self._store.count_intervals(run["id"])
                if count > self._rows:
                    self._reduced(run, count)
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
        exact = count <= self._rows
        if t0 is None and t1 is None:
            return chart_data(run, self._reduced(run, count), points, intervals=count, exact=exact)
        lo = -float("inf") if t0 is None else t0
        hi = float("inf") if t1 is None else t1
        if exact:
            picked = [iv for iv in self._reduced(run, count) if iv.t1_s > lo and iv.t0_s < hi]
            return chart_data(run, picked, points, intervals=count, exact=True)
        rolled = self._store.timeline_rollup(run_id, STEPS[0], t0, t1, keep=_keep(run))
        if len(rolled) >= points // 2 or not rolled:
            return chart_data(run, [r.iv for r in rolled], points, intervals=count, exact=False)
        stored = self._store.iter_timeline(run_id, start=rolled[0].seq, stop=rolled[-1].end)
        picked = [iv for iv in stored if iv.t1_s > lo and iv.t0_s < hi]
        return chart_data(run, picked, points, intervals=count, exact=True)


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
