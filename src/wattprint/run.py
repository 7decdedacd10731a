"""Runs and windows: the Python API's tracked spans.

A :class:`Tracker` opens the host's sensors (shared through one
:class:`~wattprint.sampler.Sampler` per sensor set), resolves the grid
intensity in the background, and on :meth:`Tracker.stop` returns a
:class:`Run`: totals per channel, a timeline that covers every nanosecond
between start and stop, closed windows, emissions and every fault met.

Windows (``with run.window("eval"):``) are named sub-spans, nestable and
overlapping; their energy is the difference of totals read fresh at their
edges, so opening one costs one read of the counters, not a thread.
"""

from __future__ import annotations

import contextvars
import functools
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, overload

from wattprint import __version__
from wattprint.host import cpu_model, hostname
from wattprint.intensity.base import Intensity
from wattprint.measure import ChannelTotal, Interval, Measurement, window_stats
from wattprint.sampler import Fault, Sampler, Snapshot
from wattprint.sensors.base import Availability, Channel, update_period
from wattprint.units import emissions_g as _emissions_g

if TYPE_CHECKING:  # imported lazily at run time: most runs need neither
    from wattprint.attribution import Attributor
    from wattprint.baseline import Baseline

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_INTERVAL_S = 1.0
DEFAULT_FLUSH_S = 10.0
DEFAULT_BASELINE_MAX_AGE_S = 7 * 24 * 3600.0
GPU_USERS_EVERY_S = 5.0  # how often a run without attribution lists each GPU's processes


class WattprintWarning(UserWarning):
    """A fallback or fault the user should know about (shown once per cause)."""


class BaselineMissing(LookupError):
    """``baseline="stored"`` but no fresh enough baseline is stored for this host."""


# -- the shared samplers ---------------------------------------------------------------

_pool_lock = threading.Lock()
_pool: dict[tuple[str, str], tuple[Sampler, list[Availability], int]] = {}


def _acquire_sampler(rapl_root: str | None, gpus: str | None) -> tuple[Sampler, list[Availability]]:
    """One sampler per sensor set in the process, reference-counted."""
    key = (str(rapl_root or ""), str(gpus or ""))
    with _pool_lock:
        if key in _pool:
            sampler, lines, refs = _pool[key]
            _pool[key] = (sampler, lines, refs + 1)
            return sampler, lines
        from wattprint.sensors.discover import open_sensors

        sensors, lines = open_sensors(rapl_root=rapl_root, gpus=gpus)
        sampler = Sampler(sensors)
        _pool[key] = (sampler, lines, 1)
        return sampler, lines


def _release_sampler(sampler: Sampler) -> None:
    with _pool_lock:
        for key, (s, lines, refs) in list(_pool.items()):
            if s is sampler:
                if refs <= 1:
                    del _pool[key]
                    s.close()
                else:
                    _pool[key] = (s, lines, refs - 1)
                return


@contextmanager
def shared_sampler(
    rapl_root: str | None = None, gpus: str | None = None
) -> Iterator[tuple[Sampler, list[Availability]]]:
    """Borrow the process's sampler for this sensor set (opened on first use)."""
    sampler, lines = _acquire_sampler(rapl_root, gpus)
    try:
        yield sampler, lines
    finally:
        _release_sampler(sampler)


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
_current_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "wattprint_run", default=None
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
        self._estimated: dict[str, str] = {}

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
            self._recent_power = dict(sampler.recent_power_w)
        self.run.windows.append(self)  # list.append is atomic: windows close from any thread

    @property
    def channels(self) -> dict[str, ChannelTotal]:  # type: ignore[override]
        """Per-channel energy over the window (up to now while it is open)."""
        if self._channels is not None:
            return self._channels
        sampler = self.run._sampler
        end = self._end or sampler.read_now()
        chans = _channel_totals(sampler.channels, self._open, end)
        duration = (end.t_ns - self._open.t_ns) / 1e9
        # Shorter than a channel's hardware update period, the counter difference is
        # mostly quantisation (0 or one whole update); estimate from recent mean power.
        recent = self._recent_power or {}
        for name, ch in sampler.channels.items():
            period = update_period(ch)
            if duration < period and name in recent:
                chans[name].energy_j = recent[name] * duration
                self._estimated[name] = (
                    f"window ({duration * 1e3:.3g} ms) shorter than the {period * 1e3:.0f} ms update "
                    "period: mean power of the last sample interval × duration"
                )
        if self._end is not None:
            self._channels = chans
        return chans

    @property
    def estimated(self) -> dict[str, str]:
        """Channel → how its energy was estimated, for channels this window was too short for."""
        self.channels  # noqa: B018 - materialises the figures, filling the estimates
        return self._estimated

    @property
    def emissions_g(self) -> float:  # type: ignore[override]
        """Location-based grams CO2e; NaN until the run's intensity is known."""
        intensity = self.intensity or self.run.intensity
        if intensity is None:
            return float("nan")
        g = intensity.at(self.start_wall + self.duration_s / 2)
        return sum(_emissions_g(c.energy_j, g, intensity.pue) for c in self.channels.values() if c.in_total)

    def price(self, intensity: Intensity) -> None:
        """Fix emissions (per channel too) from ``intensity`` at the window's middle instant."""
        self.intensity = intensity
        g = intensity.at(self.start_wall + self.duration_s / 2)
        for c in self.channels.values():
            c.emissions_g = _emissions_g(c.energy_j, g, intensity.pue)
        if intensity.market_g_per_kwh is not None:
            self.market_emissions_g = _emissions_g(self.energy_j, intensity.market_g_per_kwh, intensity.pue)

    def to_dict(self) -> dict[str, object]:
        d = self.base_dict()
        d["offset_s"] = self.offset_s
        d["parent"] = self.parent.name if self.parent else None
        d["estimated"] = dict(self.estimated)
        return d


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
        self.availability = availability
        self.host = hostname()
        self.pid = os.getpid()
        self.cpu_model = cpu_model()
        self.version = __version__
        self.timeline: list[Interval] = []
        self.windows: list[Window] = []
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
        self.channels = _channel_totals(sampler.channels, self._start, self._start)

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
        """A named sub-span: ``with run.window("eval") as w: ...`` then ``w.energy_j``."""
        return Window(self, name, _current_window.get())

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
            self.faults = list(self._sampler.faults[self._fault_mark :])
            if self.status == "running":
                self.status = "finished"

    def price(self, intensity: Intensity) -> None:
        """Emissions = Σ over intervals of energy × intensity(interval) × PUE, per channel."""
        self.intensity = intensity
        per_channel = dict.fromkeys(self.channels, 0.0)
        for iv in self.timeline:
            g = intensity.at(iv.wall0 + (iv.t1_s - iv.t0_s) / 2)
            for n, e in iv.energy_j.items():
                if n in per_channel:
                    per_channel[n] += _emissions_g(e, g, intensity.pue)
        for n, c in self.channels.items():
            c.emissions_g = per_channel[n]
        self.emissions_g = sum(c.emissions_g for c in self.channels.values() if c.in_total)
        if intensity.market_g_per_kwh is not None:
            self.market_emissions_g = _emissions_g(
                self.energy_j, intensity.market_g_per_kwh, intensity.pue
            )
        for w in self.windows:
            w.price(intensity)

    def window_stats(self) -> dict[str, dict[str, float]]:
        """Per window name: calls, total/mean/min/max energy (J), seconds, share of run time."""
        rows = [
            {"name": w.name, "offset_s": w.offset_s, "energy_j": w.energy_j, "duration_s": w.duration_s,
             "estimated": w.estimated}
            for w in self.windows
        ]
        return window_stats(rows, self.duration_s)

    @property
    def coverage_s(self) -> float:
        """Seconds covered by timeline intervals (equals ``duration_s`` when nothing was lost)."""
        return sum(iv.t1_s - iv.t0_s for iv in self.timeline)

    def _attribution_dict(self) -> dict[str, Any] | None:
        if self.attributor is None:
            return None
        return self.attributor.to_dict({n: c.energy_j for n, c in self.channels.items()})

    def _baseline_dict(self) -> dict[str, Any] | None:
        if self.baseline is None:
            return None
        counted = {n for n, c in self.channels.items() if c.in_total}
        return self.baseline.apply(
            self.duration_s, {n: c.energy_j for n, c in self.channels.items()}, counted
        )

    def to_dict(self, *, with_timeline: bool = True) -> dict[str, object]:
        """The JSON export of the run (same names as the attributes)."""
        d = self.base_dict()
        d.update(
            {
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
                "sensors": [a.__dict__ for a in self.availability],
                "faults": [f.__dict__ for f in self.faults],
                "windows": [w.to_dict() for w in self.windows],
                "window_stats": self.window_stats(),
                "gpu_users": self.gpu_users,
                "attribution": self._attribution_dict(),
                "baseline": self._baseline_dict(),
            }
        )
        if with_timeline:
            d["timeline"] = [
                {"t0_s": iv.t0_s, "t1_s": iv.t1_s, "start_utc": iv.wall0, "energy_j": iv.energy_j}
                for iv in self.timeline
            ]
        return d


# -- the tracker ----------------------------------------------------------------------


class Tracker:
    """Track a span of work: ``t = Tracker(); t.start(); ...; run = t.stop()``.

    Location and intensity: ``country``, ``region`` or ``cloud_provider`` +
    ``cloud_region`` (else env/config/cloud metadata, else the world average,
    flagged). ``pue`` and ``market_g_per_kwh`` override defaults. ``gpus``:
    ``None`` (the GPUs the work can see), ``"all"``, ``"none"``, or indices/UUIDs.
    ``store``: True (the default database), False, or a database path.

    Attribution: ``process`` (a PID, or ``"self"`` for this process) adds the
    share of each channel caused by that process and its descendants; a
    command runner can also :meth:`attach_process` after start. Idle
    baseline: ``baseline`` is seconds of idle measurement taken before the run
    starts, ``"stored"`` to reuse this host's stored baseline when younger
    than ``baseline_max_age_s``, or a :class:`~wattprint.baseline.Baseline`.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        interval: float = DEFAULT_INTERVAL_S,
        country: str | None = None,
        region: str | None = None,
        cloud_provider: str | None = None,
        cloud_region: str | None = None,
        pue: float | None = None,
        market_g_per_kwh: float | None = None,
        gpus: str | None = None,
        rapl_root: str | os.PathLike[str] | None = None,
        store: bool | str | os.PathLike[str] = True,
        command: list[str] | None = None,
        tags: dict[str, str] | None = None,
        flush_every_s: float = DEFAULT_FLUSH_S,
        probe_cloud: bool | None = None,
        process: int | str | None = None,
        baseline: float | str | Baseline | None = None,
        baseline_max_age_s: float = DEFAULT_BASELINE_MAX_AGE_S,
    ) -> None:
        interval = float(interval)
        if not (interval >= 0.01):
            raise ValueError(f"interval must be at least 0.01 s, got {interval!r}")
        self.name = name or (" ".join(command) if command else "run")
        self.interval = interval
        self._location = dict(
            country=country,
            region=region,
            cloud_provider=cloud_provider,
            cloud_region=cloud_region,
            pue=pue,
            market_g_per_kwh=market_g_per_kwh,
            probe_cloud=probe_cloud,
        )
        self.gpus = gpus
        self.rapl_root = str(rapl_root) if rapl_root is not None else None
        self.command = command
        self.tags = dict(tags or {})
        self.flush_every_s = flush_every_s
        self._store_arg = store
        self._store: Any = None
        self.run: Run | None = None
        self._sampler: Sampler | None = None
        self._token: int | None = None
        self._intensity: Intensity | None = None
        self._intensity_error: BaseException | None = None
        self._resolver: threading.Thread | None = None
        self._last_flush = 0.0
        self._flushed = 0
        self.process = os.getpid() if process == "self" else process
        if self.process is not None and not isinstance(self.process, int):
            raise ValueError(f"process must be a PID or 'self', got {process!r}")
        if isinstance(baseline, (int, float)) and not isinstance(baseline, bool) and not baseline > 0:
            raise ValueError(f"baseline must be a positive number of seconds or 'stored', got {baseline!r}")
        if isinstance(baseline, str) and baseline != "stored":
            raise ValueError(f"baseline must be a positive number of seconds or 'stored', got {baseline!r}")
        self.baseline_arg = baseline
        self.baseline_max_age_s = baseline_max_age_s
        if pue is not None and not 1.0 <= pue <= 3.0:
            raise ValueError(f"pue must be between 1.0 and 3.0, got {pue!r}")
        if market_g_per_kwh is not None and not 0.0 <= market_g_per_kwh <= 2000.0:
            raise ValueError(f"market_g_per_kwh must be between 0 and 2000, got {market_g_per_kwh!r}")
        if any(self._location[k] for k in ("country", "region", "cloud_provider", "cloud_region")):
            # An explicit location is checked now (static tables, no network), so a
            # typo fails at once instead of after the work.
            self._resolve()
            if self._intensity_error is not None:
                raise self._intensity_error

    # -- intensity --

    def _resolve(self) -> None:
        try:
            from wattprint.intensity.resolve import resolve

            self._intensity = resolve(**self._location)  # type: ignore[arg-type]
            if self.run is not None and self.run.intensity is None:
                self.run.intensity = self._intensity  # provisional, for figures read while running
        except Exception as exc:  # resolved later into a flagged fallback
            self._intensity_error = exc

    def _final_intensity(self, run: Run) -> Intensity:
        if self._resolver is not None:
            self._resolver.join(timeout=5.0)
        intensity = self._intensity
        if intensity is None:
            from wattprint.intensity.static import world_average

            intensity = world_average()
            intensity.warnings.append(f"intensity lookup failed: {self._intensity_error}")
        try:
            from wattprint.intensity.resolve import finalize

            intensity = finalize(intensity, run.start_wall, run.end_wall or time.time())
        except Exception as exc:
            intensity.warnings.append(f"live intensity failed: {exc}")
        return intensity

    # -- store --

    def _open_store(self) -> None:
        if self._store_arg is False:
            return
        try:
            from wattprint.store.sqlite import SqliteStore

            path = None if self._store_arg is True else str(self._store_arg)
            self._store = SqliteStore.open(path)
        except Exception as exc:
            warnings.warn(f"wattprint: not storing this run: {exc}", WattprintWarning, stacklevel=3)
            self._store = None

    def _flush(self, final: bool = False) -> None:
        if self._store is None or self.run is None:
            return
        try:
            rows = self.run.timeline[self._flushed :]
            self._store.save_progress(self.run, rows)
            self._flushed += len(rows)
            if final:
                self._store.save_final(self.run)
        except Exception as exc:
            self.run.faults.append(Fault(time.time(), "store", f"write failed: {exc}"))
            if final:
                warnings.warn(f"wattprint: could not store run: {exc}", WattprintWarning, stacklevel=3)

    def _on_tick(self, snap: Snapshot) -> None:
        run = self.run
        if run is None:
            return
        run._on_tick(snap)
        if self._store is not None and snap.wall - self._last_flush >= self.flush_every_s:
            self._last_flush = snap.wall
            self._flush()

    # -- start/stop --

    def start(self) -> Run:
        """Open sensors, take the first reading, start sampling. Returns the live run."""
        if self.run is not None and self.run.status == "running":
            raise RuntimeError("this tracker is already running")
        self._sampler, availability = _acquire_sampler(self.rapl_root, self.gpus)
        try:
            baseline = self._baseline()
        except BaseException:
            _release_sampler(self._sampler)
            raise
        run = Run(
            name=self.name,
            sampler=self._sampler,
            interval_s=self.interval,
            command=self.command,
            tags=self.tags,
            availability=availability,
        )
        self.run = run
        run.baseline = baseline
        run.intensity = self._intensity
        if self.process is not None:
            self.attach_process(self.process)
        if self._intensity is None:
            self._resolver = threading.Thread(
                target=self._resolve, name="wattprint-intensity", daemon=True
            )
            self._resolver.start()
        self._open_store()
        self._last_flush = run.start_wall
        if self._store is not None:
            self._flush()
        self._token = self._sampler.subscribe(self._on_tick, self.interval)
        _active.add(self)
        _guard_sigterm(True)
        return run

    def _baseline(self) -> Baseline | None:
        from wattprint.baseline import Baseline

        arg = self.baseline_arg
        if arg is None or isinstance(arg, Baseline):
            return arg
        assert self._sampler is not None
        if arg == "stored":
            from wattprint.store.sqlite import SqliteStore

            path = None if self._store_arg in (True, False) else str(self._store_arg)
            store = SqliteStore.open(path)
            try:
                found = store.latest_baseline(hostname(), self.baseline_max_age_s)
            finally:
                store.close()
            if found is None:
                raise BaselineMissing(
                    f"no stored idle baseline for this host younger than {self.baseline_max_age_s / 3600:g} h; "
                    "record one with 'wattprint baseline' or pass a number of seconds"
                )
            return found
        from wattprint.baseline import measure

        return measure(self._sampler, float(arg))

    def attach_process(self, pid: int) -> None:
        """Attribute energy to ``pid`` and its descendants from now on."""
        run = self.run
        if run is None or self._sampler is None:
            raise RuntimeError("start the tracker before attaching a process")
        from wattprint.attribution import Attributor

        users = memory = None
        for sensor in self._sampler.sensors:
            users = getattr(sensor, "gpu_processes", None) or users
            memory = getattr(sensor, "gpu_process_memory", None) or memory
        try:
            attributor = Attributor(pid, self._sampler.channels, gpu_users=users, gpu_memory=memory)
        except Exception as exc:  # e.g. the process already ended
            run.faults.append(Fault(time.time(), "attribution", f"not attributing: {exc}"))
            return
        with run._lock:
            run.attributor = attributor

    def stop(self, *, status: str | None = None, exit_code: int | None = None) -> Run:
        """End the run: a final fresh read, emissions, store. Safe to call twice."""
        run = self.run
        if run is None:
            raise RuntimeError("tracker was never started")
        if run.status != "running":
            return run
        assert self._sampler is not None
        if self._token is not None:
            self._sampler.unsubscribe(self._token)
            self._token = None
        end = self._sampler.read_now()
        if status:
            run.status = status
        run.exit_code = exit_code
        run._finish(end)
        _release_sampler(self._sampler)
        _active.discard(self)
        if not _active:
            _guard_sigterm(False)
        run.price(self._final_intensity(run))
        for msg in run.intensity.warnings if run.intensity else []:
            warnings.warn(f"wattprint: {msg}", WattprintWarning, stacklevel=2)
        for f in run.faults:
            warnings.warn(f"wattprint: {f.source}: {f.message}", WattprintWarning, stacklevel=2)
        self._flush(final=True)
        if self._store is not None:
            self._store.close()
            self._store = None
        return run

    def __enter__(self) -> Run:
        return self.start()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        status = None
        if exc_type is not None:
            status = "interrupted" if exc_type is KeyboardInterrupt else "failed"
        self.stop(status=status)


_active: set[Tracker] = set()


def _stop_all_at_exit() -> None:
    """Interpreter exit with runs still open: end them so nothing measured is lost."""
    for t in list(_active):
        try:
            t.stop(status="interrupted")
        except Exception:  # noqa: S110 - exit path, best effort
            pass


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM with runs open: end and store them, then die of SIGTERM as if we were not here."""
    import signal

    _stop_all_at_exit()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _guard_sigterm(on: bool) -> None:
    """Install our SIGTERM handler while runs are open, only where nobody else has one.

    Only from the main thread (Python's rule) and only over the default
    action, so a host program's own handler is never replaced.
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        return
    try:
        current = signal.getsignal(signal.SIGTERM)
        if on and current is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
        elif not on and current is _on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except (ValueError, OSError):  # embedded interpreters without signals
        pass


import atexit  # noqa: E402

atexit.register(_stop_all_at_exit)


# -- track(): context manager and decorator -----------------------------------------


class _Track:
    def __init__(self, name: str | None, kwargs: dict[str, Any]) -> None:
        self.name = name
        self.kwargs = kwargs
        self._stack: list[tuple[Tracker, contextvars.Token[Run | None]]] = []

    def __enter__(self) -> Run:
        tracker = Tracker(self.name, **self.kwargs)
        run = tracker.start()
        self._stack.append((tracker, _current_run.set(run)))
        return run

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        tracker, token = self._stack.pop()
        _current_run.reset(token)
        tracker.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        name = self.name or func.__qualname__

        @functools.wraps(func)
        def wrapper(*args: Any, **kw: Any) -> Any:
            outer = _current_run.get()
            if outer is not None and outer.status == "running":
                with outer.window(name):
                    return func(*args, **kw)
            with _Track(name, self.kwargs):
                return func(*args, **kw)

        return wrapper  # type: ignore[return-value]


@overload
def track(name: F) -> F: ...
@overload
def track(name: str | None = None, **kwargs: Any) -> _Track: ...


def track(name: Any = None, **kwargs: Any) -> Any:
    """Track a block or a function.

    ``with track("train", interval=0.5) as run: ...``; ``@track`` or
    ``@track("step")`` on a function: each call is a window of the enclosing
    tracked run if there is one, otherwise a run of its own. Keyword
    arguments go to :class:`Tracker` (anything that is not a Tracker option
    is a tag).
    """
    if callable(name):
        return _Track(None, {})(name)
    options = set(Tracker.__init__.__kwdefaults__ or {})
    tags = {k: str(v) for k, v in kwargs.items() if k not in options}
    opts = {k: v for k, v in kwargs.items() if k in options}
    if tags:
        opts["tags"] = {**opts.get("tags", {}), **tags}
    return _Track(name, opts)


def active_run() -> Run | None:
    """The run tracked by the innermost ``with track(...)`` in this context, if any."""
    return _current_run.get()

