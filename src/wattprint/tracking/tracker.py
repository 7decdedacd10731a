"""The Tracker: opens sensors, runs the sampler, resolves intensity, stores runs.

A :class:`Tracker` borrows the process's :class:`~wattprint.tracking.sampler.Sampler`
for its sensor set (one per set, reference-counted), resolves the grid
intensity in the background, flushes progress to the store every few seconds,
and on :meth:`Tracker.stop` returns the finished :class:`~wattprint.tracking.run.Run`.
:func:`track` is the context-manager and decorator form. Open runs are ended
and stored at interpreter exit and on SIGTERM/SIGHUP, and detached in a
forked child (see :mod:`wattprint.tracking.endings`).
"""

from __future__ import annotations

import contextvars
import functools
import os
import threading
import time
import warnings
from collections.abc import Callable

from wattprint.errors import BaselineMissing, WattprintWarning
from wattprint.host import hostname
from wattprint.intensity.base import Intensity
from wattprint.tracking import endings
from wattprint.tracking.pool import (  # noqa: F401 - shared_sampler is imported from here too
    _acquire_sampler,
    _release_sampler,
    _sensor_choice,
    shared_sampler,
)
from wattprint.tracking.run import Run
from wattprint.tracking.sampler import Fault, Sampler, Snapshot

# ``typing`` (and the ``re`` it pulls in) costs ~20 ms to import on a small VM:
# the tracker needs it only for type checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from wattprint.tracking.baseline import Baseline

    F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_INTERVAL_S = 1.0
DEFAULT_FLUSH_S = 10.0
DEFAULT_BASELINE_MAX_AGE_S = 7 * 24 * 3600.0


# -- the tracker ----------------------------------------------------------------------


class Tracker:
    """Track a span of work: ``t = Tracker(); t.start(); ...; run = t.stop()``.

    Location and intensity: ``country``, ``region`` or ``cloud_provider`` +
    ``cloud_region`` (else env/config/cloud metadata, else the world average,
    flagged). ``pue`` and ``market_g_per_kwh`` override defaults. ``gpus``:
    ``None`` (the GPUs the work can see), ``"all"``, ``"none"``, or indices/UUIDs.
    ``store``: True (the default database), False, or a database path.
    ``command``: the command line being measured, kept with secrets such as
    ``--password=…`` masked (:mod:`wattprint.privacy`); ``store_command=False``
    keeps no command line at all.

    Attribution: ``process`` (a PID, or ``"self"`` for this process) adds the
    share of each channel caused by that process and its descendants; a
    command runner can also :meth:`attach_process` after start. Idle
    baseline: ``baseline`` is seconds of idle measurement taken before the run
    starts, ``"stored"`` to reuse this host's stored baseline when younger
    than ``baseline_max_age_s``, or a :class:`~wattprint.tracking.baseline.Baseline`.
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
        sensors: str | list[Any] | tuple[Any, ...] | None = None,
        store: bool | str | os.PathLike[str] = True,
        command: list[str] | None = None,
        store_command: bool = True,
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
        # Secrets in the command line are masked before anything keeps it (wattprint.privacy);
        # store_command=False keeps none of it, not even in the default name.
        if command and store_command:
            from wattprint.privacy import mask_command  # lazily: it needs ``re``

            command = mask_command([str(a) for a in command])
        else:
            command = None
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
        self.sensors = _sensor_choice(sensors)
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
        self._stop_lock = threading.Lock()  # a signal's stop thread and the program may both stop
        self._detached = False  # this is a forked child's copy of the parent's run
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
        if self._location_is_set():
            # A location that is set anywhere is checked now (static tables, no network:
            # the chain stops before the cloud probes), so a typo fails at once instead
            # of turning into a fallback after the work.
            self._resolve()
            if self._intensity_error is not None:
                raise self._intensity_error

    def _location_is_set(self) -> bool:
        keys = ("country", "region", "cloud_provider", "cloud_region")
        if any(self._location[k] for k in keys):
            return True
        if any(os.environ.get(f"WATTPRINT_{k.upper()}") for k in keys):
            return True
        from wattprint.config import load_config

        return any(load_config().get(k) for k in keys)

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
            self._check_store_file()
            rows = self.run.timeline[self._flushed :]
            self._store.save_progress(self.run, rows)
            self._flushed += len(rows)
            if final:
                self._store.save_final(self.run)
        except Exception as exc:
            self.run.faults.append(Fault(time.time(), "store", f"write failed: {exc}"))
            if final:
                warnings.warn(f"wattprint: could not store run: {exc}", WattprintWarning, stacklevel=3)

    def _check_store_file(self) -> None:
        """The database deleted or replaced mid-run: say so in the run, recreate it, write the run again."""
        problem = self._store.file_problem()
        if problem is None or self.run is None:
            return
        self.run.faults.append(Fault(time.time(), "store", f"{problem}; recreated it and wrote this run again"))
        self._store.reopen()
        self._flushed = 0

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
        with self._stop_lock:  # a signal's stop waits until the run is fully started
            return self._begin()

    def _begin(self) -> Run:
        self._sampler, availability = _acquire_sampler(self.rapl_root, self.gpus, self.sensors)
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
        endings.opened(self)  # from here on, exit or a signal stops and stores it
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
        return run

    def _baseline(self) -> Baseline | None:
        from wattprint.tracking.baseline import Baseline

        arg = self.baseline_arg
        if arg is None or isinstance(arg, Baseline):
            return arg
        assert self._sampler is not None
        if arg == "stored":
            from wattprint.store.sqlite import SqliteStore

            path = None if self._store_arg in (True, False) else str(self._store_arg)
            store = SqliteStore.open(path, write=False)  # only reads: read-only media will do
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
        from wattprint.tracking.baseline import measure

        return measure(self._sampler, float(arg))

    def attach_process(self, pid: int) -> None:
        """Attribute energy to ``pid`` and its descendants from now on."""
        run = self.run
        if run is None or self._sampler is None:
            raise RuntimeError("start the tracker before attaching a process")
        from wattprint.tracking.attribution import Attributor

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
        """End the run: a final fresh read, emissions, store. Safe to call twice, from any thread.

        In a child made by ``os.fork()`` inside the tracked code, the child's copy
        of the run is detached: this returns it as it was at the fork and does
        nothing else (the parent's run goes on and is stored by the parent alone).
        """
        run = self.run
        if run is None:
            raise RuntimeError("tracker was never started")
        if self._detached:
            return run
        with self._stop_lock:
            if run.status == "running":
                self._end(run, status, exit_code)
        return run

    def _end(self, run: Run, status: str | None, exit_code: int | None) -> None:
        assert self._sampler is not None
        written = False
        try:
            if self._token is not None:
                self._sampler.unsubscribe(self._token)
                self._token = None
            end = self._sampler.read_now()
            if status:
                run.status = status
            run.exit_code = exit_code
            run._finish(end)
            _release_sampler(self._sampler)
            run.price(self._final_intensity(run))
            for msg in run.intensity.warnings if run.intensity else []:
                warnings.warn(f"wattprint: {msg}", WattprintWarning, stacklevel=3)
            for f in run.faults:
                warnings.warn(f"wattprint: {f.source}: {f.message}", WattprintWarning, stacklevel=3)
            self._flush(final=True)
            written = True
        finally:
            if not written:
                self._write_after_interruption(run, status)
            if self._store is not None:
                self._store.close()
                self._store = None
            # Only once the run is written: a signal until then still waits for the write
            # (the handler stays installed) instead of killing the process half-way.
            endings.closed(self)

    def _write_after_interruption(self, run: Run, status: str | None) -> None:
        """A KeyboardInterrupt (Ctrl-C) landed inside the stop: end the run with what is
        known and write it once more; the interruption itself goes on up."""
        try:
            if run.end_wall is None:
                run.status = status or "interrupted"
                run._finish(self._sampler.read_now())  # type: ignore[union-attr]
            self._flush(final=True)
        except BaseException:  # noqa: S110 - best effort; the first interruption is the one raised
            pass

    def _stop_urgently(self, status: str) -> None:
        """Stop from a signal's thread: other threads' counter reads wait until it is done.

        The readers are held only once this thread owns the stop, so a program
        that is itself stopping this run is never held up by it.
        """
        if self._detached:
            return
        with self._stop_lock:
            run, sampler = self.run, self._sampler
            if run is None or sampler is None or run.status != "running":
                return
            sampler.hold_readers()
            try:
                self._end(run, status, None)
            finally:
                sampler.release_readers()

    def _detach(self) -> None:
        """In a forked child: this copy of the run is the parent's; never store or stop it here."""
        self._detached = True
        self._token = None
        if self._store is not None:
            # Closing the inherited SQLite connection in the child could touch the parent's
            # files (WAL checkpoint); keep it unused and unclosed until the child ends.
            _kept_in_child.append(self._store)
            self._store = None
        if self.run is not None:
            self.run._lock = threading.Lock()

    def __enter__(self) -> Run:
        return self.start()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        status = None
        if exc_type is not None:
            status = "interrupted" if exc_type is KeyboardInterrupt else "failed"
        self.stop(status=status)


_kept_in_child: list[Any] = []  # stores inherited by a forked child, never used there


_current_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "wattprint_run", default=None
)


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


def track(name: Any = None, **kwargs: Any) -> Any:
    """Track a block or a function.

    ``with track("train", interval=0.5) as run: ...``; ``@track`` or
    ``@track("step")`` on a function: each call is a window of the enclosing
    tracked run if there is one, otherwise a run of its own. Keyword
    arguments go to :class:`Tracker` (anything that is not a Tracker option
    is a tag).

    Processes: the run is stored on SIGTERM/SIGHUP and at exit. After
    ``os.fork()`` inside the block, the run belongs to the parent: its figures
    are the whole machine's, so they include what the child does, and only the
    parent stores it. In the child the run is detached: windows still read the
    machine's counters, but nothing is stored, and the child leaving the block
    or exiting does not stop the parent's run. A ``track(...)`` started in the
    child is a run of its own.
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
