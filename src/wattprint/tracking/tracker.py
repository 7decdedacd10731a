"""The Tracker: opens sensors, runs the sampler, resolves intensity, feeds the sinks.

A :class:`Tracker` borrows the process's :class:`~wattprint.tracking.sampler.Sampler`
for its sensor set (one per set, reference-counted), resolves the grid
intensity in the background, hands the run's life to its sinks (the store,
the live view, ``--json``, the user's own: :mod:`wattprint.sinks.base`) and
on :meth:`Tracker.stop` returns the finished :class:`~wattprint.tracking.run.Run`.
:func:`~wattprint.tracking.track.track` is the context-manager and decorator form. Open runs are ended
and stored at interpreter exit and on SIGTERM/SIGHUP, and detached in a
forked child (see :mod:`wattprint.tracking.endings`).
"""

from __future__ import annotations

import os
import threading
import time
import warnings

from wattprint._threads import new_thread
from wattprint.errors import BaselineMissing, BudgetExceeded, WattprintWarning
from wattprint.host import hostname, user_name
from wattprint.intensity.base import Intensity
from wattprint.tracking import endings
from wattprint.tracking.pool import (  # noqa: F401 - shared_sampler is imported from here too
    _acquire_sampler,
    _release_sampler,
    _sensor_choice,
    shared_sampler,
)
from wattprint.tracking.run import GPU_USERS_EVERY_S, Run
from wattprint.tracking.sampler import Fault, Sampler, Snapshot

# ``typing`` (and the ``re`` it pulls in) costs ~20 ms to import on a small VM:
# the tracker needs it only for type checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from wattprint.settings import Settings
    from wattprint.sinks.base import Sink, Sinks
    from wattprint.tracking.baseline import Baseline
    from wattprint.tracking.budget import Budget
    from wattprint.tracking.ranks import JobContext


def _kept_command(command: list[str] | None, store_command: bool) -> list[str] | None:
    if not command or not store_command:
        return None
    from wattprint.privacy import mask_command  # lazily: it needs ``re``

    return mask_command([str(a) for a in command])


def _sink_list(value: Any) -> list[Any]:
    """Check ``Tracker(sinks=...)`` at once (see :func:`wattprint.sinks.base.sink_list`)."""
    from wattprint.sinks.base import sink_list

    return sink_list(value)


def _exporters_wanted(settings: Settings) -> bool:
    """Whether the settings ask for the Prometheus or OTLP sinks; a missing extra fails now."""
    from wattprint.settings_keys import EXPORTER_KEYS

    if all(settings.get(k) is None for k in EXPORTER_KEYS):
        return False  # nothing more imported
    from wattprint.sinks.metrics import exporter_sinks

    exporter_sinks(settings)  # a missing package is a ConfigError before the work starts
    return True


# -- the tracker ----------------------------------------------------------------------


class Tracker:
    """Track a span of work: ``t = Tracker(); t.start(); ...; run = t.stop()``.

    Location and intensity: ``country``, ``region`` or ``cloud_provider`` +
    ``cloud_region`` (else env/config/cloud metadata, else the world average,
    flagged). ``pue`` and ``market_g_per_kwh`` override defaults. ``gpus``:
    ``None`` (the GPUs the work can see), ``"all"``, ``"none"``, or indices/UUIDs.
    ``store``: True (the default database), False, or a database path; it is
    written on a thread of its own, so a busy database never delays the work.
    ``sinks``: more :class:`~wattprint.sinks.base.Sink` objects to receive the
    run's life (after the store); :meth:`add_sink` adds one later.
    ``command``: the command line being measured, kept with secrets such as
    ``--password=…`` masked (:mod:`wattprint.privacy`); ``store_command=False``
    keeps no command line at all.

    Attribution: ``process`` (a PID, or ``"self"`` for this process) adds the
    share of each channel caused by that process and its descendants; a
    command runner can also :meth:`attach_process` after start. Idle
    baseline: ``baseline`` is seconds of idle measurement taken before the run
    starts, ``"stored"`` to reuse this host's stored baseline when younger
    than ``baseline_max_age_s``, or a :class:`~wattprint.tracking.baseline.Baseline`.

    Every keyword is a setting of :data:`wattprint.settings.KEYS` (the live-provider
    keys too): a keyword given here beats ``WATTPRINT_<KEY>``, which beats the
    config files. Out-of-range values, unknown keywords (with the nearest name)
    and loose tags raise :class:`~wattprint.errors.ConfigError`; ``settings`` takes
    what :func:`wattprint.settings.load` already read.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        interval: float | None = None,
        country: str | None = None,
        region: str | None = None,
        cloud_provider: str | None = None,
        cloud_region: str | None = None,
        pue: float | None = None,
        market_g_per_kwh: float | None = None,
        gpus: str | None = None,
        rapl_root: str | os.PathLike[str] | None = None,
        sensors: str | list[Any] | tuple[Any, ...] | None = None,
        store: bool | str | os.PathLike[str] | None = None,
        command: list[str] | None = None,
        store_command: bool = True,
        tags: dict[str, str] | None = None,
        flush_every_s: float | None = None,
        probe_cloud: bool | None = None,
        process: int | str | None = None,
        baseline: float | str | Baseline | None = None,
        baseline_max_age_s: float | None = None,
        sinks: Sequence[Sink] | None = None,
        settings: Settings | None = None,
        **more: Any,
    ) -> None:
        # Every setting goes through one path (wattprint.settings): the arguments given
        # here beat the environment, which beats the config files. ``settings`` is what
        # a caller (the CLI) already loaded; ``more`` takes the other keys of the table
        # (live-provider keys ...) and refuses anything else by name.
        from wattprint import settings as _settings

        given = dict(
            name=name, interval=interval, country=country, region=region,
            cloud_provider=cloud_provider, cloud_region=cloud_region, pue=pue,
            market_g_per_kwh=market_g_per_kwh, gpus=gpus, rapl_root=rapl_root, sensors=sensors, store=store,
            command=command, tags=tags, flush_every_s=flush_every_s, probe_cloud=probe_cloud,
            process=process, baseline=baseline, baseline_max_age_s=baseline_max_age_s, sinks=sinks, **more,
        )
        if settings is None:
            settings = _settings.load(given)
        elif any(v is not None for v in given.values()):
            settings = settings.with_arguments(given)
        self.settings: Settings = settings
        get = settings.get
        # Secrets in the command line are masked before anything keeps it (wattprint.privacy);
        # store_command=False keeps none of it, not even in the default name.
        self.command = _kept_command(get("command"), store_command)
        self.name = get("name") or (" ".join(self.command) if self.command else "run")
        self.interval: float = get("interval")
        self.gpus = get("gpus")
        self.rapl_root = get("rapl_root")
        from wattprint.sensors.platform.opener import PlatformOptions

        self.platform = PlatformOptions.from_settings(get)  # whole-machine sensors and the rest-of-platform model
        self.sensors = _sensor_choice(get("sensors"))  # checked now: a typo fails before the work
        self.tags = dict(get("tags") or {})
        self.owner: str | None = get("owner") or user_name()
        self.project: str | None = get("project")
        self.flush_every_s: float = get("flush_every_s")
        self._store_arg = (get("db") or True) if get("store") else False
        self._extra_sinks = _sink_list(get("sinks"))
        self._exporters = _exporters_wanted(settings)  # Prometheus / OTLP settings: checked now
        self._sinks: Sinks | None = None
        self.run: Run | None = None
        self._sampler: Sampler | None = None
        self._lists_gpus = False  # a sensor lists the processes on its GPUs (set at start)
        self._token: int | None = None
        self._intensity: Intensity | None = None
        self._intensity_error: BaseException | None = None
        self._resolver: threading.Thread | None = None
        self._live: Any = None  # the run's background live-intensity fetcher, if a provider is set
        # a signal's stop thread and the program may both stop; re-entrant, as a sink may call
        # stop() from inside a stop (its hooks run in the stopping thread)
        self._stop_lock = threading.RLock()
        self._detached = False  # this is a forked child's copy of the parent's run
        self.job: JobContext | None = None  # one rank of a distributed job (tracking/ranks.py), set at start
        self.process = get("process")
        self.baseline_arg = get("baseline")
        self.baseline_max_age_s: float = get("baseline_max_age_s")
        # budget_kwh / budget_g: a BudgetSink says (default: a WattprintWarning) and stops (default:
        # BudgetExceeded at the run's next window/progress/check_budget); `wattprint run` sets both
        self.embodied = get("embodied_devices")  # per-device embodied figures (wattprint.embodied), or None
        self.budget_say: Callable[[str], None] | None = None
        self.budget_stop: Callable[[Budget], None] | None = None
        if settings.location_is_set():
            # A location that is set anywhere is checked now (static tables, no network:
            # the chain stops before the cloud probes), so a typo fails at once instead
            # of turning into a fallback after the work.
            self._resolve()
            if self._intensity_error is not None:
                raise self._intensity_error

    # -- intensity --

    def _resolve(self) -> None:
        try:
            from wattprint.intensity.resolve import resolve

            self._intensity = resolve(settings=self.settings)
            if self.run is not None and self.run.intensity is None:
                self.run.intensity = self._intensity  # provisional, for figures read while running
                self._start_live(self.run)
        except Exception as exc:  # resolved later into a flagged fallback
            self._intensity_error = exc

    def _start_live(self, run: Run) -> None:
        """Start the background live fetcher once the location is known (no provider: nothing)."""
        try:
            from wattprint.intensity.resolve import live_fetcher

            assert self._intensity is not None
            fetcher = live_fetcher(self._intensity, run.start_wall, self.settings)
            if fetcher is not None:
                fetcher.start()
                self._live = fetcher
        except Exception as exc:  # the end-of-run fetch still tries, and says why it failed
            run.faults.append(Fault(time.time(), "live", f"background fetcher not started: {exc}"))

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

            live, self._live = self._live, None
            if live is not None:
                live.stop()
            intensity = finalize(intensity, run.start_wall, run.end_wall or time.time(),
                                 settings=self.settings, fetcher=live)
            for message in intensity.live_faults:
                run.faults.append(Fault(time.time(), "live", message))
        except Exception as exc:
            intensity.warnings.append(f"live intensity failed: {exc}")
        return intensity

    # -- sinks --

    def _start_sinks(self, run: Run) -> None:
        """The store sink (from ``store=``) first, the exporters (``prometheus_port``, ``otlp_endpoint``
        ...), then the extra sinks; tell them the run began."""
        from wattprint.sinks.base import Sinks

        sinks = list(self._extra_sinks)
        from wattprint.tracking.budget import Budget

        run.budget = Budget.from_settings(self.settings)  # a fresh one per run
        if run.budget is not None:  # first: it acts on the run, the others only report
            from wattprint.sinks.budget import BudgetSink

            sinks.insert(0, BudgetSink(run.budget, say=self.budget_say, stop=self.budget_stop))
        if self._exporters:  # after the store, before the caller's own sinks
            from wattprint.sinks.metrics import exporter_sinks

            sinks[:0] = exporter_sinks(self.settings)
        if self._store_arg is not False:
            from wattprint.sinks.store import StoreSink

            sinks.insert(0, StoreSink(None if self._store_arg is True else str(self._store_arg)))
        self._sinks = Sinks(sinks, flush_every_s=self.flush_every_s)
        self._sinks.start(run, run._start.t_ns)

    def add_sink(self, sink: Sink) -> None:
        """Add a sink; on a running tracker it is told at once that the run started."""
        self._extra_sinks.append(sink)
        if self._sinks is not None and self.run is not None and self.run.status == "running":
            self._sinks.add(sink, self.run)
            self._call_soon()  # a sink that wants rows as they close: called every tick from now

    def _call_soon(self) -> None:
        """Have the sampler call :meth:`_on_tick` at its next tick (it may have said later)."""
        if self._sampler is not None:
            self._sampler.call_soon()

    def flush_soon(self) -> None:
        """Write what the run measured so far at the next tick (safe from a signal handler)."""
        if self._sinks is not None:
            self._sinks.flush_soon()
        self._call_soon()

    def _on_tick(self, snap: Snapshot) -> int | None:
        """The sampler thread, at a tick when this tracker's call was due; returns when the
        next one is (None: the next tick). Between calls the sampler keeps each tick's reading
        in the run (its keep list is ``run._waiting``), read raw where the sensors allow.

        Called every tick while a sink wants rows as they close, a process is attributed (its
        share is read per row) or the run is a rank of a job (other jobs on its devices are
        looked for about once a second); else when the next flush is due, and at least every
        ``GPU_USERS_EVERY_S`` while GPUs are read (their processes are listed then)."""
        run = self.run
        if run is None:
            return None
        run._kept(snap)
        if self.job is not None:
            self.job.look()  # other jobs on this rank's devices (about once a second, never waits)
        sinks = self._sinks
        if sinks is None:
            return None
        if snap.t_ns >= sinks.deliver_by_ns or run.attributor is not None:
            sinks.tick(run, snap.t_ns)
        if run.attributor is not None or self.job is not None:
            return None
        due = sinks.deliver_by_ns
        if self._lists_gpus:
            due = min(due, snap.t_ns + int(GPU_USERS_EVERY_S * 1e9))
        return due

    # -- start/stop --

    def start(self) -> Run:
        """Open sensors, take the first reading, start sampling. Returns the live run."""
        if self.run is not None and self.run.status == "running":
            raise RuntimeError("this tracker is already running")
        with self._stop_lock:  # a signal's stop waits until the run is fully started
            return self._begin()

    def _begin(self) -> Run:
        from wattprint.tracking import ranks  # a distributed job's rank opens only what it owns

        self.job = ranks.begin(self.settings)
        self._sampler, availability = ranks.acquire(self.job, self.rapl_root, self.sensors, self.gpus,
                                                             self.platform)
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
        run.owner, run.project = self.owner, self.project
        run.job = self.job.record() if self.job is not None else None
        self.run = run
        if self.job is not None:
            self.job.started(self)  # under Slurm: its warning signal marks and flushes the run
        if not endings.opened(self):  # from here on, exit or a signal stops and stores it
            _note_unguarded(run)
        run.baseline = baseline
        run.embodied = self.embodied
        run.intensity = self._intensity
        if self._intensity is not None:
            self._start_live(run)
        if self.process is not None:
            self.attach_process(self.process)
        if self._intensity is None:
            self._resolver = new_thread(self._resolve, "wattprint-intensity")
            self._resolver.start()
        self._start_sinks(run)
        self._lists_gpus = any(getattr(x, "gpu_processes", None) is not None for x in self._sampler.sensors)
        self._token = self._sampler.subscribe(self._on_tick, self.interval, keep=run._waiting)
        return run

    def _baseline(self) -> Baseline | None:
        from wattprint.tracking.baseline import Baseline

        arg = self.baseline_arg
        if arg is None or isinstance(arg, Baseline):
            return arg
        assert self._sampler is not None
        if arg == "stored":
            from wattprint.store.open import open_store

            path = None if self._store_arg in (True, False) else str(self._store_arg)
            store = open_store(path, write=False)  # only reads: read-only media will do
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
        self._call_soon()  # its share is read per row: the tracker is called every tick from now

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
        sinks = self._sinks  # None only if a Ctrl-C cut start() short before the sinks began
        finished = False
        try:
            if self._token is not None:
                self._sampler.unsubscribe(self._token)
                self._token = None
            if sinks is not None:
                sinks.stopping()
            end = self._sampler.read_now()
            if status:
                run.status = status
            run.exit_code = exit_code
            run._finish(end)
            if self.job is not None:
                self.job.settle(run)  # devices another job used too: this job's share counts
            _release_sampler(self._sampler)
            run.price(self._final_intensity(run))
            if sinks is not None:
                sinks.finish(run)  # the store's final write is waited for, a bounded time
            finished = True
        finally:
            if self._live is not None:  # an interrupted stop: no more background fetches
                self._live.stop()
            if not finished:
                self._finish_after_interruption(run, status)
            # Only once the run is handed over and written: a signal until then still waits
            # for it (the handler stays installed) instead of killing the process half-way.
            endings.closed(self)
        if finished and self.job is not None:
            self.job.finish(run, self._store_arg)  # bounded by job_timeout_s; never raises
        for msg in run.intensity.warnings if run.intensity else []:
            warnings.warn(f"wattprint: {msg}", WattprintWarning, stacklevel=3)
        for f in run.faults:
            if f.source != "signals":  # said when the run started
                warnings.warn(f"wattprint: {f.source}: {f.message}", WattprintWarning, stacklevel=3)

    def _finish_after_interruption(self, run: Run, status: str | None) -> None:
        """A KeyboardInterrupt (Ctrl-C) landed inside the stop: end the run with what is
        known and hand it to the sinks once more; the interruption itself goes on up."""
        try:
            if run.end_wall is None:
                run.status = status or "interrupted"
                run._finish(self._sampler.read_now())  # type: ignore[union-attr]
            if self._sinks is not None:
                self._sinks.finish(run)
        except BaseException:  # noqa: S110 - best effort; the first interruption is the one raised
            pass

    def _stop_urgently(self, status: str) -> None:
        """Stop from a signal's thread: other threads' counter reads wait until it is done.

        The readers are held only once this thread owns the stop, so a program
        that is itself stopping this run is never held up by it.
        """
        if self._detached:
            return
        if self.job is not None and self.job.info.slurm.get("SLURM_JOB_ID"):
            status = "preempted"  # Slurm's SIGTERM: scancel, the time limit, preemption (then maybe requeue)
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
        if self._sinks is not None:
            # The sinks' threads (the store's writer) do not exist here, and closing the
            # inherited SQLite connection could touch the parent's files (WAL checkpoint):
            # keep them unused and unclosed until the child ends.
            _kept_in_child.append(self._sinks)
            self._sinks = None
        if self.run is not None:
            self.run._lock = threading.RLock()

    def __enter__(self) -> Run:
        return self.start()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        status = None
        if exc_type is not None:
            status = "interrupted" if exc_type is KeyboardInterrupt else "failed"
            if isinstance(exc, BudgetExceeded):
                status = "stopped"
        self.stop(status=status)


_kept_in_child: list[Any] = []  # stores inherited by a forked child, never used there


UNGUARDED = (
    "this run started outside the main thread, where Python cannot install a signal handler: "
    "a SIGTERM/SIGHUP would end the process without storing it; call wattprint.handle_signals() "
    "once from the main thread at start-up"
)


def _note_unguarded(run: Run) -> None:
    """Say at once (and in the run) that a scheduler's SIGTERM would lose this run."""
    run.faults.append(Fault(time.time(), "signals", UNGUARDED))
    warnings.warn(f"wattprint: {UNGUARDED}", WattprintWarning, stacklevel=4)
