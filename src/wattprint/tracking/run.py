"""Runs: tracked spans and their figures.

A :class:`Run` holds what a tracked span measured: totals per channel, a
timeline that covers every nanosecond between start and stop, closed
windows, emissions, units of work counted (``run.step()``), attribution, the
idle baseline and every fault met. It is created and ended by
:class:`wattprint.tracking.tracker.Tracker`.

Windows (``with run.window("eval"):``, :mod:`wattprint.tracking.window`) are
named sub-spans, nestable and overlapping; their energy is the difference of
totals read fresh at their edges, so opening one costs one read of the
counters, not a thread.
"""

from __future__ import annotations

import os
import threading
import time

from wattprint.host import cpu_model, hostname
from wattprint.intensity.base import Intensity
from wattprint.sensors.base import Availability, update_period
from wattprint.tracking.measure import ChannelTotal, Interval, Measurement, window_stats
from wattprint.tracking.pricing import RowIndex, applied, row_g_per_kwh
from wattprint.tracking.progress import Counts, Progress
from wattprint.tracking.sampler import KEEP_MAX, Fault, Sampler, Snapshot
from wattprint.tracking.shared import apply_split
from wattprint.tracking.timeline import FIRST_MERGE, Timeline
from wattprint.tracking.window import Window, WindowLog, _channel_totals, _current_window
from wattprint.units import emissions_g as _emissions_g
from wattprint.version import __version__

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:  # imported lazily at run time: most runs need neither
    from wattprint.tracking.attribution import Attributor
    from wattprint.tracking.baseline import Baseline
    from wattprint.tracking.budget import Budget
    from wattprint.tracking.predict import Prediction, ProgressLog
    from wattprint.tracking.record import (
        AttributionRecord,
        BaselineRecord,
        EmbodiedRecord,
        JobRecord,
        PlatformRecord,
        RunRecord,
        WindowStatsRecord,
    )

GPU_USERS_EVERY_S = 5.0  # how often a run without attribution lists each GPU's processes


class Run(Measurement):
    """A tracked span of work. Figures are final after :meth:`Tracker.stop`.

    While it runs, ``energy_j``, ``emissions_g``, ``power_w``, ``duration_s``
    and ``channels`` are read fresh (one counter read each, as a window's
    are); :meth:`current` gives all of them from one read. Its record
    (:meth:`to_dict`, what the store is sent) holds the closed intervals only,
    and ``timeline`` its rows (each tick's reading becomes a row when the rows
    are next read: see :meth:`_wait`).
    """

    kind = "run"

    def __init__(
        self,
        *,
        name: str,
        sampler: Sampler,
        interval_s: float,
        command: list[str] | None,
        tags: dict[str, str],
        availability: list[Availability],
    ) -> None:
        self._sampler = sampler
        self._start = sampler.read_now()
        super().__init__(name=name, start_wall=self._start.wall, duration_s=0.0)
        self.id = os.urandom(6).hex()
        self.interval_s = interval_s
        self.command = command
        self.tags = tags
        self.owner: str | None = None  # who ran it and for which project (set by the tracker)
        self.project: str | None = None
        self.availability = availability
        self.host = hostname()
        self.pid = os.getpid()
        self.cpu_model = cpu_model()
        self.version = __version__
        # bounded: recent rows as sampled, older ones merged within their UTC hour (timeline.py)
        self._timeline = Timeline(first_s=interval_s * FIRST_MERGE)
        self._waiting: list[Snapshot] = []  # ticks not yet made into rows (see _wait)
        self.windows = WindowLog(self, sampler.channels)  # older closed windows held in columns
        self._row_index: RowIndex | None = None  # the timeline's rows, for pricing windows
        self.faults: list[Fault] = []
        self.status = "running"
        self.exit_code: int | None = None
        self.end_wall: float | None = None
        self._last = self._start
        self._fault_mark = len(sampler.faults)
        # re-entrant: reading ``timeline`` makes the kept rows, also from code that holds it
        self._lock = threading.RLock()
        self.attributor: Attributor | None = None
        self.baseline: Baseline | None = None
        self.job: JobRecord | None = None  # this run is one rank of a distributed job (tracking/job.py)
        self.shared_split: dict[str, float] = {}  # devices shared with another job: share kept (tracking/shared.py)
        self._gpu_users: dict[str, set[int]] = {}
        self._gpu_users_at = float("-inf")
        # windows shorter than this may need the recent-power estimate at close
        self._longest_update_s = max((update_period(c) for c in sampler.channels.values()), default=0.0)
        # While running, ``channels``, ``duration_s`` and the emissions hold what the closed
        # intervals add up to (priced with the intensity known so far), so a run read
        # mid-way, or one whose process was killed, shows what it used up to then.
        self.channels = _channel_totals(sampler.channels, self._start, self._start)
        self._priced = 0  # timeline intervals already in the running emissions
        self._progress = Progress()
        self.budget: Budget | None = None  # the tracker's, from the budget_* settings
        self._budget_error: BaseException | None = None  # BudgetExceeded, raised by check_budget()
        self._forecast: ProgressLog | None = None  # what progress() was told (tracking/predict.py)
        self.embodied: dict[str, dict[str, object]] | None = None  # per-device figures (wattprint.embodied)
        self._platform: PlatformRecord | None = None  # the whole-machine total's spans, fixed at the end

    # -- live figures: the closed intervals are kept in ``_channels`` & co.; the public
    # names read fresh counters while the run is open --

    def _live(self) -> bool:
        return self.status == "running" and self.end_wall is None

    @property
    def channels(self) -> dict[str, ChannelTotal]:
        """Energy (and emissions) per channel: up to now while the run is open, final after."""
        return self.current().channels if self._live() else self._channels

    @channels.setter
    def channels(self, value: dict[str, ChannelTotal]) -> None:
        self._channels = value

    @property
    def duration_s(self) -> float:
        """Seconds from the start to now while open, to the end after."""
        if self._live():
            return (self._sampler._clock() - self._start.t_ns) / 1e9  # the sampler's clock: it may be a test's
        return self._duration_s

    @duration_s.setter
    def duration_s(self, value: float) -> None:
        self._duration_s = value

    @property
    def emissions_g(self) -> float:
        """Location-based grams CO2e, up to now while open (NaN until the intensity is known)."""
        return self.current().emissions_g if self._live() else self._emissions_g

    @emissions_g.setter
    def emissions_g(self, value: float) -> None:
        self._emissions_g = value

    @property
    def market_emissions_g(self) -> float | None:
        """Market-based grams CO2e (only with a contractual factor), up to now while open."""
        return self.current().market_emissions_g if self._live() else self._market_emissions_g

    @market_emissions_g.setter
    def market_emissions_g(self, value: float | None) -> None:
        self._market_emissions_g = value

    def counts(self) -> Counts:
        """``(steps, samples, tokens)`` counted so far."""
        return self._progress.counts()

    def step(self, steps: int = 1, *, samples: int | None = None, tokens: int | None = None) -> None:
        """Count units of work: ``steps`` (default 1) and, when known, samples and tokens.

        Cheap (a lock and a tuple) and safe from any thread. Every window open
        at the moment counts them too; the run and its windows then give
        energy and CO2e per unit (:meth:`per`), stored with the run. A count
        that is not a whole number of 0 or more raises
        :class:`~wattprint.errors.ConfigError`. Over its budget, this raises
        :class:`~wattprint.errors.BudgetExceeded` (see :meth:`check_budget`).
        """
        self._progress.add(steps, samples, tokens)
        if self._budget_error is not None:
            self.check_budget()

    def check_budget(self) -> None:
        """Raise :class:`~wattprint.errors.BudgetExceeded` (once) if the run went over its budget
        with ``budget_action="stop"``; ``window()``, ``step()`` and ``progress()`` check too."""
        error, self._budget_error = self._budget_error, None
        if error is not None:
            raise error

    def progress(self, done: float, total: float | None = None) -> None:
        """Work done so far (steps, samples, epochs) of ``total`` (given once, or when it
        changes): the run predicts its total duration, energy and emissions from it."""
        if self._forecast is None:
            from wattprint.tracking.predict import ProgressLog

            self._forecast = ProgressLog(self.interval_s / 4)
        self._forecast.add((self._sampler._clock() - self._start.t_ns) / 1e9, done, total)
        if self._budget_error is not None:
            self.check_budget()

    def prediction(self) -> Prediction | None:
        """Predicted totals now, each (low, expected, high); None before enough progress."""
        return None if self._forecast is None else self._forecast.predict(self)

    # -- during the run --

    def _on_tick(self, snap: Snapshot) -> None:
        """Sampler callback: close a timeline interval when ``interval_s`` has passed."""
        self._wait(snap)
        with self._lock:
            self._make_rows()

    def _wait(self, snap: Snapshot) -> None:
        """Keep a tick's reading as the sampler does (``_waiting`` is the keep list the
        tracker subscribes with), then :meth:`_kept`: for code that drives the ticks itself."""
        self._waiting.append(snap)
        self._kept(snap)

    def _kept(self, snap: Snapshot) -> None:
        """The sampler thread, when this run's tracker is called (at least every
        :data:`GPU_USERS_EVERY_S` with GPUs, else when the sinks need rows, or once the
        sampler kept :data:`~wattprint.tracking.sampler.KEEP_MAX` ticks): the kept readings
        become rows when the rows are next read (:attr:`timeline`, :meth:`current`, the sinks'
        delivery, the stop), or now once ``KEEP_MAX`` are kept.

        On an idle machine most of a tick's CPU is Python run cold after the sleep, line by
        line: a tick that only keeps its reading touches a few lines, and the rows are then
        made warm, in a batch, exactly as they would have been one by one.
        """
        with self._lock:
            if self.status != "running":
                return
            if len(self._waiting) >= KEEP_MAX:  # memory stays bounded whatever the flush period
                self._make_rows()
            self._gpu_users_due(snap.wall)  # who uses each GPU is sampled as it happens, not later

    def _make_rows(self) -> None:
        """The rows of the kept readings, in order (under the run's lock)."""
        waiting = self._waiting
        if not waiting or self.end_wall is not None:  # not the status: stop() sets it before the end
            return
        batch = waiting[:]
        del waiting[: len(batch)]  # the sampler appends under its own lock: what came meanwhile stays
        every_s = self.interval_s * 0.999
        for snap in batch:
            if (snap.t_ns - self._last.t_ns) / 1e9 >= every_s:
                self._append_interval(snap)

    @property
    def timeline(self) -> Timeline:
        """The closed rows: energy per channel per interval (older rows merged within their
        UTC hour, see :class:`~wattprint.tracking.timeline.Timeline`); the ticks the sampler
        read raw and the readings kept since the rows were last read are made into rows first."""
        if self.end_wall is None:
            self._sampler.settle()
        if self._waiting:
            with self._lock:
                self._make_rows()
        return self._timeline

    def _append_interval(self, snap: Snapshot) -> None:
        a = self._last
        if snap.t_ns <= a.t_ns:
            return
        t0 = (a.t_ns - self._start.t_ns) / 1e9
        t1 = (snap.t_ns - self._start.t_ns) / 1e9
        energy = {
            n: max(0.0, snap.totals.get(n, 0.0) - a.totals.get(n, 0.0)) for n in self._sampler.channels
        }
        self._timeline.append(Interval(t0, t1, a.wall, energy))
        self._last = snap
        for n, e in energy.items():
            c = self._channels.get(n)
            if c is not None:
                c.energy_j += e
        self.duration_s = t1
        self._price_closed()
        if self.attributor is not None:
            try:
                self.attributor.on_interval(energy)
            except Exception as exc:  # attribution is extra: never lose the measurement for it
                self.attributor = None
                self._sampler.faults.append(Fault(time.time(), "attribution", f"stopped: {exc!r}"))

    def _gpu_users_due(self, now: float) -> None:
        """Every :data:`GPU_USERS_EVERY_S`: record which PIDs use each GPU (the attributor
        does this itself when attached)."""
        if self.attributor is None and now - self._gpu_users_at >= GPU_USERS_EVERY_S:
            self._note_gpu_users(now)

    def _note_gpu_users(self, now: float) -> None:
        """Record which PIDs use each GPU now."""
        self._gpu_users_at = now
        for sensor in self._sampler.sensors:
            lister = getattr(sensor, "gpu_processes", None)
            if lister is None:
                continue
            try:
                for channel, pids in lister().items():
                    self._gpu_users.setdefault(channel, set()).update(pids)
            except Exception:  # a listing failure only loses this extra record
                continue

    @property
    def gpu_users(self) -> dict[str, list[int]]:
        """GPU channel → PIDs seen using it during the run (absent: the driver could not say)."""
        if self.attributor is not None:
            return {c: sorted(p) for c, p in self.attributor.gpu_pids.items()}
        return {c: sorted(p) for c, p in self._gpu_users.items()}

    def current(self) -> Measurement:
        """Figures from the start to now (one fresh read), without ending the run.

        Emissions are the closed intervals as priced so far plus the open tail
        at the intensity of now; NaN while the intensity is not known.
        """
        if not self._live():
            return self._closed()
        now = self._sampler.read_now()
        chans = _channel_totals(self._sampler.channels, self._start, now)
        with self._lock:  # after the read: the sampler takes its lock before ours
            self._make_rows()
            closed = {n: (c.energy_j, c.emissions_g) for n, c in self._channels.items()}
            all_priced = self._priced == self._timeline.appended
        m = Measurement(self.name, self.start_wall, (now.t_ns - self._start.t_ns) / 1e9, chans, self.intensity)
        m.kind, m.status, m._counts = "run", self.status, self.counts()  # type: ignore[attr-defined]
        intensity = self.intensity
        if intensity is None:
            m.emissions_g = float("nan")
            return m
        g = intensity.at(now.wall)
        for n, c in chans.items():
            e0, g0 = closed.get(n, (0.0, 0.0)) if all_priced else (0.0, 0.0)
            c.emissions_g = g0 + _emissions_g(max(0.0, c.energy_j - e0), g, intensity.pue)
        m.emissions_g = sum(c.emissions_g for c in chans.values() if c.in_total)
        if intensity.market_g_per_kwh is not None:
            m.market_emissions_g = _emissions_g(m.energy_j, intensity.market_g_per_kwh, intensity.pue)
        return m

    def _closed(self) -> Measurement:
        """The run as its record holds it: the closed intervals (all of it once ended)."""
        m = Measurement(self.name, self.start_wall, self._duration_s, self._channels, self.intensity,
                        self._emissions_g, self._market_emissions_g)
        m.kind, m.status, m._counts = "run", self.status, self.counts()  # type: ignore[attr-defined]
        return m

    def window(self, name: str) -> Window:
        """A named sub-span: ``with run.window("eval") as w: ...`` then ``w.energy_j``."""
        if self._budget_error is not None:  # over budget: BudgetExceeded, in the program's thread
            self.check_budget()
        return Window(self, name, _current_window.get())

    def open_window(self, name: str) -> Window:
        """Open a window by hand (close it with ``w.close()``); for callbacks and async code."""
        return Window(self, name, None)

    # -- ending --

    def _finish(self, end: Snapshot) -> None:
        with self._lock:
            self._make_rows()  # the readings still kept, before the last one
            self._gpu_users_due(end.wall)
            self._append_interval(end)
            self.duration_s = (end.t_ns - self._start.t_ns) / 1e9
            self.end_wall = end.wall
            self.channels = _channel_totals(self._sampler.channels, self._start, end)
            self._platform = self._platform_dict(self._closed())  # before the sampler's sensors close
            # in place: faults recorded on the run itself (sinks, attribution) are kept
            self.faults.extend(self._sampler.faults[self._fault_mark :])
            if self.status == "running":
                self.status = "finished"

    def _price_closed(self) -> None:
        """Add the intervals closed since the last call to the running emissions.

        Priced with the provisional intensity known now; intervals that closed
        before it was known are priced as soon as it is. :meth:`price` at the
        end replaces these figures with the final pricing.
        """
        intensity = self.intensity
        if intensity is None:
            return
        tl = self._timeline
        rows = tl.since(self._priced)
        if tl.appended - self._priced > len(rows):  # some were merged before the intensity came
            for c in self._channels.values():
                c.emissions_g = 0.0
            rows = list(tl)  # merged rows never cross an hour: priced alike
        self._add_emissions(intensity, rows)
        self._priced = tl.appended

    def _add_emissions(self, intensity: Intensity, intervals: list[Interval]) -> None:
        chans = self._channels
        for iv in intervals:
            g = row_g_per_kwh(intensity, iv)
            for n, e in iv.energy_j.items():
                c = chans.get(n)
                if c is not None:
                    c.emissions_g += _emissions_g(e, g, intensity.pue)
        self.emissions_g = sum(c.emissions_g for c in chans.values() if c.in_total)
        if intensity.market_g_per_kwh is not None:
            energy = sum(c.energy_j for c in chans.values() if c.in_total)
            self.market_emissions_g = _emissions_g(energy, intensity.market_g_per_kwh, intensity.pue)

    def price(self, intensity: Intensity) -> None:
        """Emissions = Σ over intervals of energy × intensity(interval) × PUE, per channel.

        With live values, the intensity kept is a copy saying what the run used
        (``applied``: effective g/kWh, live share, spans without a value, marginal figure).
        """
        with self._lock:
            if intensity.series or intensity.marginal:
                counted = {n for n, c in self.channels.items() if c.in_total}
                used, notes = applied(intensity, list(self._timeline), counted)
                intensity = intensity.replace(applied=used, warnings=[*intensity.warnings, *notes])
            self.intensity = intensity
            for c in self._channels.values():
                c.emissions_g = 0.0
            self._add_emissions(intensity, list(self._timeline))
            self._priced = self._timeline.appended
        for w in self.windows:
            w.price(intensity)

    def window_stats(self) -> dict[str, WindowStatsRecord]:
        """Per window name: calls, total/mean/min/max energy (J), seconds, share of run time."""
        return window_stats([w.to_dict() for w in self.windows], self._duration_s)

    @property
    def coverage_s(self) -> float:
        """Seconds covered by timeline intervals (equals ``duration_s`` when nothing was lost)."""
        return sum(iv.t1_s - iv.t0_s for iv in self.timeline)

    def _attribution_dict(self) -> AttributionRecord | None:
        if self.attributor is None:
            return None
        return self.attributor.to_dict({n: c.energy_j for n, c in self._channels.items()})

    def _baseline_dict(self) -> BaselineRecord | None:
        if self.baseline is None:
            return None
        counted = {n for n, c in self._channels.items() if c.in_total}
        return self.baseline.apply(
            self._duration_s, {n: c.energy_j for n, c in self._channels.items()}, counted
        )

    def _embodied_dict(self, d: RunRecord) -> EmbodiedRecord | None:
        if not self.embodied:
            return None
        from wattprint.embodied import amortise

        models = {n: c.device for n, c in self._sampler.channels.items() if c.device}
        return amortise(d, self.embodied, models)  # type: ignore[return-value]

    def _platform_dict(self, closed: Measurement) -> PlatformRecord | None:
        """Metered and fallback seconds of the whole-machine total over the run (None: no meter)."""
        if not any(c.component == "platform" and c.in_total for c in self._sampler.channels.values()):
            return None
        from wattprint.sensors.platform.total import span_facts

        return span_facts(self._sampler.sensors, self._start.t_ns, closed.duration_s,  # type: ignore[return-value]
                          closed.channels)

    def to_dict(self, *, with_timeline: bool = True, with_windows: bool = True) -> RunRecord:
        """The run's record (see :class:`wattprint.tracking.record.RunRecord`).

        The timeline is the one held in memory: on a long run its older rows are
        merged (each within one UTC hour, energy summed), and ``timeline_intervals``
        says how many sampled intervals its rows stand for (the store keeps them all).

        ``with_windows=False`` leaves the windows and their statistics out (a store
        flush writes only the new windows, so it never pays for all of them).
        """
        from wattprint.privacy import mask_text  # lazily: it needs ``re``

        windows = [w.to_dict() for w in self.windows] if with_windows else []
        closed = self._closed()
        d: RunRecord = {
            **closed.totals_dict(),
            "channels": closed.channels_dict(),
            "id": self.id,
            "status": self.status,
            "command": self.command,
            "tags": self.tags,
            "end_utc": self.end_wall,
            "exit_code": self.exit_code,
            "host": self.host,
            "pid": self.pid,
            "cpu_model": self.cpu_model,
            "gpu_models": sorted({c.device for c in self._sampler.channels.values()
                                  if c.component == "gpu" and c.device}),
            "wattprint_version": self.version,
            "interval_s": self.interval_s,
            "intensity": self.intensity.to_dict() if self.intensity else None,
            "sensors": [
                {"sensor": a.sensor, "available": a.available, "detail": a.detail, "fix": a.fix}
                for a in self.availability
            ],
            "faults": [{"wall": f.wall, "source": f.source, "message": mask_text(f.message)}
                       for f in self.faults],
            "windows": windows,
            "window_stats": window_stats(windows, self._duration_s) if with_windows else {},
            "gpu_users": self.gpu_users,
            "attribution": self._attribution_dict(),
            "baseline": self._baseline_dict(),
            "owner": self.owner,
            "project": self.project,
            "job": self.job,
        }
        d["budget"] = self.budget.to_dict() if self.budget is not None else None
        d["prediction"] = self._forecast.record(self) if self._forecast is not None else None
        d["embodied"] = self._embodied_dict(d)
        d["platform"] = self._platform if self.end_wall is not None else self._platform_dict(closed)
        if self.shared_split:  # devices shared with another job: the totals count this job's share
            apply_split(d, self.shared_split)
        if with_timeline:
            d["timeline"] = [iv.to_dict() for iv in self._timeline]
            d["timeline_intervals"] = self._timeline.appended
        return d
