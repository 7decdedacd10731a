"""Runs and windows: tracked spans and their figures.

A :class:`Run` holds what a tracked span measured: totals per channel, a
timeline that covers every nanosecond between start and stop, closed
windows, emissions, attribution, the idle baseline and every fault met. It is
created and ended by :class:`wattprint.tracking.tracker.Tracker`.

Windows (``with run.window("eval"):``) are named sub-spans, nestable and
overlapping; their energy is the difference of totals read fresh at their
edges, so opening one costs one read of the counters, not a thread.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time

from wattprint.host import cpu_model, hostname
from wattprint.intensity.base import Intensity
from wattprint.sensors.base import Availability, Channel, update_period
from wattprint.tracking.measure import ChannelTotal, Interval, Measurement, window_stats
from wattprint.tracking.pricing import RowIndex, applied, row_g_per_kwh, window_g_per_kwh
from wattprint.tracking.sampler import Fault, Sampler, Snapshot
from wattprint.tracking.timeline import FIRST_MERGE, Timeline
from wattprint.units import emissions_g as _emissions_g
from wattprint.version import __version__

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:  # imported lazily at run time: most runs need neither
    from wattprint.tracking.attribution import Attributor
    from wattprint.tracking.baseline import Baseline
    from wattprint.tracking.budget import Budget
    from wattprint.tracking.predict import Prediction, Progress
    from wattprint.tracking.record import (
        AttributionRecord,
        BaselineRecord,
        EmbodiedRecord,
        RunRecord,
        WindowRecord,
        WindowStatsRecord,
    )

GPU_USERS_EVERY_S = 5.0  # how often a run without attribution lists each GPU's processes


# -- spans ----------------------------------------------------------------------------


def _channel_totals(
    channels: dict[str, Channel], a: Snapshot, b: Snapshot
) -> dict[str, ChannelTotal]:
    out: dict[str, ChannelTotal] = {}
    for name, ch in channels.items():
        out[name] = ChannelTotal(
            name=name,
            component=ch.component,
            method=str(ch.method),
            band=ch.band,
            energy_j=max(0.0, b.totals.get(name, 0.0) - a.totals.get(name, 0.0)),
            in_total=ch.in_total,
            detail=ch.detail,
        )
    return out


_current_window: contextvars.ContextVar[Window | None] = contextvars.ContextVar(
    "wattprint_window", default=None
)


class Window(Measurement):
    """A named sub-span of a run; energy = totals at close − totals at open.

    Opening and closing cost one counter read each and nothing else: the
    per-channel figures are worked out on first use (or when the run ends),
    so windows can wrap even tight loops. Use as ``with run.window("x") as w``
    or ``w = run.open_window("x"); ...; w.close()``.
    """

    def __init__(self, run: Run, name: str, parent: Window | None) -> None:  # noqa: D107
        # Measurement.__init__ is not called: channels and emissions are lazy here.
        self.run = run
        self.name = name
        self.parent = parent
        self._open: Snapshot = run._sampler.read_now()
        self._end: Snapshot | None = None
        self._channels: dict[str, ChannelTotal] | None = None
        self._recent_power: dict[str, float] | None = None
        self._token: contextvars.Token[Window | None] | None = None
        self.start_wall = self._open.wall
        self.duration_s = 0.0
        self.intensity: Intensity | None = None
        self.market_emissions_g: float | None = None
        self._estimated: tuple[float, tuple[tuple[str, float], ...]] = (0.0, ())  # duration, (channel, period)

    def __enter__(self) -> Window:
        self._token = _current_window.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _current_window.reset(self._token)
            self._token = None
        self.close()

    @property
    def closed(self) -> bool:
        return self._end is not None

    @property
    def offset_s(self) -> float:
        """Seconds from the run's start to this window's opening."""
        return (self._open.t_ns - self.run._start.t_ns) / 1e9

    def close(self) -> None:
        """Read the counters at the window's end (idempotent)."""
        if self._end is not None:
            return
        sampler = self.run._sampler
        end = sampler.read_now()
        self._end = end
        self.duration_s = (end.t_ns - self._open.t_ns) / 1e9
        if self.duration_s < self.run._longest_update_s:
            self._recent_power = sampler.recent_power_w
        self.run.windows.append(self)  # list.append is atomic: windows close from any thread

    @property
    def channels(self) -> dict[str, ChannelTotal]:  # type: ignore[override]
        """Per-channel energy over the window (up to now while it is open)."""
        # the edges and recent power first, the cached figures second: another thread that
        # caches them and then drops the edges' counters (below) cannot leave us half of each
        opened, closed, recent = self._open, self._end, self._recent_power or {}
        if self._channels is not None:
            return self._channels
        sampler = self.run._sampler
        end = closed or sampler.read_now()
        chans = _channel_totals(sampler.channels, opened, end)
        duration = (end.t_ns - opened.t_ns) / 1e9
        # Shorter than a channel's hardware update period, the counter difference is
        # mostly quantisation (0 or one whole update); estimate from recent mean power.
        estimated = []
        for name, ch in sampler.channels.items():
            period = update_period(ch)
            if duration < period and name in recent:
                chans[name].energy_j = recent[name] * duration
                estimated.append((name, period))
        # the notes are worded on demand: held as text, 100 k short windows kept ~0.7 KB each
        self._estimated = (duration, tuple(estimated))
        if closed is not None:
            self._channels = chans
            # figures fixed: the edges' counter copies are no longer needed (a run holding
            # 100 k windows would otherwise keep 200 k of them)
            self._open = Snapshot(opened.t_ns, opened.wall, {})
            self._end = Snapshot(closed.t_ns, closed.wall, {})
            self._recent_power = None
        return chans

    @property
    def estimated(self) -> dict[str, str]:
        """Channel → how its energy was estimated, for channels this window was too short for."""
        self.channels  # noqa: B018 - materialises the figures, filling the estimates
        duration, found = self._estimated
        return {
            name: f"window ({duration * 1e3:.3g} ms) shorter than the {period * 1e3:.0f} ms update "
            "period: mean power of the last sample interval × duration"
            for name, period in found
        }

    @property
    def emissions_g(self) -> float:  # type: ignore[override]
        """Location-based grams CO2e; NaN until the run's intensity is known."""
        if self.intensity is not None and self._channels is not None:  # priced and closed: figures fixed
            return sum(c.emissions_g for c in self._channels.values() if c.in_total)
        intensity = self.intensity or self.run.intensity
        if intensity is None:
            return float("nan")
        g = window_g_per_kwh(self, intensity)
        return sum(_emissions_g(c.energy_j, g[n], intensity.pue) for n, c in self.channels.items() if c.in_total)

    def price(self, intensity: Intensity) -> None:
        """Fix emissions (per channel too) from ``intensity``, priced as the run's rows it covers."""
        g = window_g_per_kwh(self, intensity)
        for n, c in self.channels.items():
            c.emissions_g = _emissions_g(c.energy_j, g[n], intensity.pue)
        if intensity.market_g_per_kwh is not None:
            self.market_emissions_g = _emissions_g(self.energy_j, intensity.market_g_per_kwh, intensity.pue)
        self.intensity = intensity

    def to_dict(self) -> WindowRecord:
        """The window's record (see :class:`wattprint.tracking.record.WindowRecord`)."""
        return {
            **self.totals_dict(),
            "channels": self.channels_dict(),
            "offset_s": self.offset_s,
            "parent": self.parent.name if self.parent else None,
            "estimated": self.estimated,
        }


class Run(Measurement):
    """A tracked span of work. Figures are final after :meth:`Tracker.stop`.

    While running, :meth:`current` gives the totals so far.
    """

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
        self.timeline = Timeline(first_s=interval_s * FIRST_MERGE)
        self.windows: list[Window] = []
        self._row_index: RowIndex | None = None  # the timeline's rows, for pricing windows
        self.faults: list[Fault] = []
        self.status = "running"
        self.exit_code: int | None = None
        self.end_wall: float | None = None
        self._last = self._start
        self._fault_mark = len(sampler.faults)
        self._lock = threading.Lock()
        self.attributor: Attributor | None = None
        self.baseline: Baseline | None = None
        self._gpu_users: dict[str, set[int]] = {}
        self._gpu_users_at = float("-inf")
        # windows shorter than this may need the recent-power estimate at close
        self._longest_update_s = max((update_period(c) for c in sampler.channels.values()), default=0.0)
        # While running, ``channels``, ``duration_s`` and the emissions hold what the closed
        # intervals add up to (priced with the intensity known so far), so a run read
        # mid-way, or one whose process was killed, shows what it used up to then.
        self.channels = _channel_totals(sampler.channels, self._start, self._start)
        self._priced = 0  # timeline intervals already in the running emissions
        self.budget: Budget | None = None  # the tracker's, from the budget_* settings
        self._budget_error: BaseException | None = None  # BudgetExceeded, raised by check_budget()
        self._progress: Progress | None = None  # what progress() was told (tracking/predict.py)
        self.embodied: dict[str, dict[str, object]] | None = None  # per-device figures (wattprint.embodied)

    # -- during the run --

    def _on_tick(self, snap: Snapshot) -> None:
        """Sampler callback: close a timeline interval when ``interval_s`` has passed."""
        with self._lock:
            if self.status != "running":
                return
            if (snap.t_ns - self._last.t_ns) / 1e9 >= self.interval_s * 0.999:
                self._append_interval(snap)

    def _append_interval(self, snap: Snapshot) -> None:
        a = self._last
        if snap.t_ns <= a.t_ns:
            return
        t0 = (a.t_ns - self._start.t_ns) / 1e9
        t1 = (snap.t_ns - self._start.t_ns) / 1e9
        energy = {
            n: max(0.0, snap.totals.get(n, 0.0) - a.totals.get(n, 0.0)) for n in self._sampler.channels
        }
        self.timeline.append(Interval(t0, t1, a.wall, energy))
        self._last = snap
        for n, e in energy.items():
            c = self.channels.get(n)
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
        elif snap.wall - self._gpu_users_at >= GPU_USERS_EVERY_S:
            self._note_gpu_users(snap.wall)

    def _note_gpu_users(self, now: float) -> None:
        """Record which PIDs use each GPU (the attributor does this itself when attached)."""
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
        """Totals from the start to now (a fresh read), without ending the run."""
        if self.status != "running":
            return self
        now = self._sampler.read_now()
        m = Measurement(
            name=self.name,
            start_wall=self.start_wall,
            duration_s=(now.t_ns - self._start.t_ns) / 1e9,
            channels=_channel_totals(self._sampler.channels, self._start, now),
            intensity=self.intensity,
        )
        if self.intensity is not None:
            g = self.intensity.g_per_kwh
            m.emissions_g = _emissions_g(m.energy_j, g, self.intensity.pue)
        return m

    def window(self, name: str) -> Window:
        """A named sub-span: ``with run.window("eval") as w: ...`` then ``w.energy_j``.

        Over its budget (``budget_action="stop"``), this raises :class:`~wattprint.errors.BudgetExceeded`.
        """
        if self._budget_error is not None:
            self.check_budget()
        return Window(self, name, _current_window.get())

    def check_budget(self) -> None:
        """Raise :class:`~wattprint.errors.BudgetExceeded` (once) if the run went over its budget
        with ``budget_action="stop"``; ``window()`` and ``progress()`` check too."""
        error, self._budget_error = self._budget_error, None
        if error is not None:
            raise error

    def progress(self, done: float, total: float | None = None) -> None:
        """Units of work done so far (steps, samples, epochs) of ``total`` (given once, or when
        it changes): the run predicts its total duration, energy and emissions from them."""
        if self._progress is None:
            from wattprint.tracking.predict import Progress

            self._progress = Progress(self.interval_s / 4)
        self._progress.add((self._sampler._clock() - self._start.t_ns) / 1e9, done, total)
        if self._budget_error is not None:
            self.check_budget()

    def prediction(self) -> Prediction | None:
        """Predicted totals now, each (low, expected, high); None before enough progress."""
        return None if self._progress is None else self._progress.predict(self)

    def open_window(self, name: str) -> Window:
        """Open a window by hand (close it with ``w.close()``); for callbacks and async code."""
        return Window(self, name, None)

    # -- ending --

    def _finish(self, end: Snapshot) -> None:
        with self._lock:
            self._append_interval(end)
            self.duration_s = (end.t_ns - self._start.t_ns) / 1e9
            self.end_wall = end.wall
            self.channels = _channel_totals(self._sampler.channels, self._start, end)
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
        tl = self.timeline
        rows = tl.since(self._priced)
        if tl.appended - self._priced > len(rows):  # some were merged before the intensity came
            for c in self.channels.values():
                c.emissions_g = 0.0
            rows = list(tl)  # merged rows never cross an hour: priced alike
        self._add_emissions(intensity, rows)
        self._priced = tl.appended

    def _add_emissions(self, intensity: Intensity, intervals: list[Interval]) -> None:
        chans = self.channels
        for iv in intervals:
            g = row_g_per_kwh(intensity, iv)
            for n, e in iv.energy_j.items():
                c = chans.get(n)
                if c is not None:
                    c.emissions_g += _emissions_g(e, g, intensity.pue)
        self.emissions_g = sum(c.emissions_g for c in chans.values() if c.in_total)
        if intensity.market_g_per_kwh is not None:
            self.market_emissions_g = _emissions_g(self.energy_j, intensity.market_g_per_kwh, intensity.pue)

    def price(self, intensity: Intensity) -> None:
        """Emissions = Σ over intervals of energy × intensity(interval) × PUE, per channel.

        With live values, the intensity kept is a copy saying what the run used
        (``applied``: effective g/kWh, live share, spans without a value, marginal figure).
        """
        with self._lock:
            if intensity.series or intensity.marginal:
                counted = {n for n, c in self.channels.items() if c.in_total}
                used, notes = applied(intensity, list(self.timeline), counted)
                intensity = intensity.replace(applied=used, warnings=[*intensity.warnings, *notes])
            self.intensity = intensity
            for c in self.channels.values():
                c.emissions_g = 0.0
            self._add_emissions(intensity, list(self.timeline))
            self._priced = self.timeline.appended
        for w in self.windows:
            w.price(intensity)

    def window_stats(self) -> dict[str, WindowStatsRecord]:
        """Per window name: calls, total/mean/min/max energy (J), seconds, share of run time."""
        return window_stats([w.to_dict() for w in self.windows], self.duration_s)

    @property
    def coverage_s(self) -> float:
        """Seconds covered by timeline intervals (equals ``duration_s`` when nothing was lost)."""
        return sum(iv.t1_s - iv.t0_s for iv in self.timeline)

    def _attribution_dict(self) -> AttributionRecord | None:
        if self.attributor is None:
            return None
        return self.attributor.to_dict({n: c.energy_j for n, c in self.channels.items()})

    def _baseline_dict(self) -> BaselineRecord | None:
        if self.baseline is None:
            return None
        counted = {n for n, c in self.channels.items() if c.in_total}
        return self.baseline.apply(
            self.duration_s, {n: c.energy_j for n, c in self.channels.items()}, counted
        )

    def _embodied_dict(self, d: RunRecord) -> EmbodiedRecord | None:
        if not self.embodied:
            return None
        from wattprint.embodied import amortise

        models = {n: c.device for n, c in self._sampler.channels.items() if c.device}
        return amortise(d, self.embodied, models)  # type: ignore[return-value]

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
        d: RunRecord = {
            **self.totals_dict(),
            "channels": self.channels_dict(),
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
            "window_stats": window_stats(windows, self.duration_s) if with_windows else {},
            "gpu_users": self.gpu_users,
            "attribution": self._attribution_dict(),
            "baseline": self._baseline_dict(),
            "owner": self.owner,
            "project": self.project,
        }
        d["budget"] = self.budget.to_dict() if self.budget is not None else None
        d["prediction"] = self._progress.record(self) if self._progress is not None else None
        d["embodied"] = self._embodied_dict(d)
        if with_timeline:
            d["timeline"] = [iv.to_dict() for iv in self.timeline]
            d["timeline_intervals"] = self.timeline.appended
        return d
