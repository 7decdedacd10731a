"""A tracker's part in a distributed job: the election at start, the merge at stop.

:func:`begin` is called by :meth:`Tracker.start <wattprint.tracking.tracker.Tracker.start>`
before the sensors open. It finds this process's job
(:func:`wattprint.tracking.job.detect`) and, when the program already runs
``torch.distributed`` or MPI (imported and initialised by the program; wattprint
never imports them itself), a communicator from ``integrations/``. With one,
the ranks exchange their hosts' boot ids once, so exactly the lowest rank on
each host measures the host's CPU packages, DRAM and RAM; without one, local
rank 0 does (:func:`wattprint.tracking.job.host_owner`).

:meth:`JobContext.finish` is called once the rank's own run is stored. With a
communicator and a run that ended normally, rank 0 gathers every rank's
partial record and stores the merged job view. Otherwise (no communicator, a
rank that died or never reached ``stop()``: the exchange timed out), each rank
looks at the store after writing its own partial, and the one that finds every
rank's partial ended merges: the last rank to finish. ``wattprint merge JOB``
does the same by hand. Every exchange is bounded by ``job_timeout_s``.
Nothing here raises into the program: a failure is a fault on the run.
"""

from __future__ import annotations

import os
import sys
import time

from wattprint.tracking import job as _job
from wattprint.tracking.pool import _acquire_sampler, _release_sampler
from wattprint.tracking.sampler import Fault

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from typing import Any

    from wattprint.sensors.base import Availability
    from wattprint.settings import Settings
    from wattprint.tracking.job import Communicator, JobInfo
    from wattprint.tracking.record import JobRecord, RunRecord
    from wattprint.tracking.run import Run
    from wattprint.tracking.sampler import Sampler


HOST_WAIT_S = 2.0  # longest a rank waits at start for local rank 0 to say which GPUs it reads


def _communicator(timeout_s: float) -> Communicator | None:
    """torch.distributed first, then MPI, each only when the program already set it up."""
    if "torch.distributed" in sys.modules:
        from wattprint.integrations.torch_distributed import communicator as torch_comm

        comm = torch_comm(timeout_s)
        if comm is not None:
            return comm
    if "mpi4py.MPI" in sys.modules:
        from wattprint.integrations.mpi import communicator as mpi_comm

        return mpi_comm(timeout_s)
    return None


class JobContext:
    """One rank's job, its communicator (if any) and what it measures."""

    def __init__(self, info: JobInfo, boot: str, owns_host: bool, election: str,
                 comm: Communicator | None, timeout_s: float) -> None:
        self.info, self.boot, self.owns_host, self.election = info, boot, owns_host, election
        self.comm, self.timeout_s = comm, timeout_s
        self.view: RunRecord | None = None  # the merged job view, on the rank that merged
        self.gpu_election = False  # GPUs were elected too (exchanged over the communicator)
        self.signal_choice = "off"  # Slurm's warning signal to handle (setting ``slurm_signal``)
        self.registry: Any = None  # this host's registry (tracking/hostreg.py): GPU election, other jobs
        self.sharing: Any = None  # other jobs seen on this rank's devices (tracking/shared.py)
        self.tracker: Any = None  # armed for that signal while its run goes
        self.warning_signal: str | None = None  # the armed signal's name (``SIGUSR1``): cli/run.py passes it on

    def started(self, tracker: Any) -> None:
        """The rank's run began: under Slurm, its warning signal (``--signal``) marks and flushes it."""
        from wattprint.tracking import slurm

        self.warning_signal = slurm.arm(tracker, self.info, self.signal_choice)
        if self.warning_signal is not None:
            self.tracker = tracker

    def sensor_choice(self, choice: tuple[Any, ...], gpus: str | None) -> tuple[tuple[Any, ...], str | None]:
        """The sensors this rank opens: all of its choice when it owns its host, else the GPUs only."""
        if self.owns_host or not choice:
            return choice, gpus
        kept = _job.host_families(choice)
        return (kept, gpus) if kept else (("nvml",), "none")  # owns nothing: open no sensor at all

    def gpu_choice(self, sampler: Sampler) -> str | None:
        """With a communicator: the ``gpus`` value naming only the GPUs no lower rank sees, or None
        when this rank owns every GPU it opened (or the exchange failed: the merge deduplicates)."""
        if self.comm is None:
            return None
        mine = sorted(n for n, c in sampler.channels.items() if c.component == "gpu")
        seen = self.comm.allgather(mine, self.timeout_s)
        if seen is None:
            self.comm.close()
            self.comm = None  # it failed once: never wait on it again
            return None
        lower = {n for r in range(self.info.rank) for n in seen[r]}
        owned = [n for n in mine if n not in lower]
        self.gpu_election = True
        if owned == mine:
            return None
        return ",".join(n.partition(":")[2] for n in owned) or "none"

    def gpu_choice_by_host(self, sampler: Sampler) -> str | None:
        """Without a communicator, on a rank whose local rank is not 0: the ``gpus`` value leaving out
        the GPUs lower local ranks of this job on this host read (found in the host registry, waited
        for until local rank 0 is there, at most :data:`HOST_WAIT_S`), or None to keep them all."""
        i = self.info
        if self.comm is not None or self.registry is None or not i.local_rank:
            return None
        mine = sorted(n for n, c in sampler.channels.items() if c.component == "gpu")
        if not mine:
            return None
        deadline = time.monotonic() + min(HOST_WAIT_S, self.timeout_s)
        while True:
            found, lower = self.registry.lower_ranks_gpus(i.id, i.local_rank)
            if found or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        if not found:
            return None  # local rank 0 never said which it reads: keep them, the merge deduplicates
        self.gpu_election = True
        owned = [n for n in mine if n not in lower]
        return None if owned == mine else ",".join(n.partition(":")[2] for n in owned) or "none"

    def register(self, sampler: Sampler) -> None:
        """Tell this host's later ranks which GPUs this rank reads, and other jobs which devices."""
        if self.registry is None:
            return
        devices = {_job.device_key(n, c.component, self.boot): n for n, c in sampler.channels.items()}
        self.registry.register(self.info.id, self.info.rank, self.info.local_rank,
                               sorted(n for n, c in sampler.channels.items() if c.component == "gpu"),
                               sorted(devices))
        if self.sharing is not None:
            self.sharing.measure(devices)

    def look(self) -> None:
        """From the sampler's thread while the run goes: note other jobs on this rank's devices."""
        if self.sharing is not None:
            try:
                self.sharing.look()
            except Exception:  # noqa: S110 - a look is retried at the next tick and at the stop
                pass

    def settle(self, run: Run) -> None:
        """At the stop, before the sinks get the run: the shared devices and this job's share of them."""
        if self.sharing is None or run.job is None:
            return
        try:
            shared = self.sharing.settle(run)
        except Exception as exc:  # never into the program: the run is kept with whole devices
            run.shared_split = {}
            run.faults.append(Fault(time.time(), "job", f"shared devices not checked: {type(exc).__name__}: {exc}"))
            return
        if shared:
            run.job = {**run.job, "shared_devices": shared}

    def record(self) -> JobRecord:
        from wattprint.host import hostname

        i = self.info
        return {"id": i.id, "rank": i.rank, "world_size": i.world_size, "local_rank": i.local_rank,
                "launcher": i.launcher, "id_source": i.id_source, "election": self.election,
                "owns_host": self.owns_host, "gpus_elected": self.gpu_election, "node": hostname(),
                "boot_id": self.boot, "restart": i.restart,
                "slurm": i.slurm}

    def finish(self, run: Run, store_arg: bool | str) -> None:
        """Hand this rank's part to the job: gather to rank 0 and merge there, or the last rank merges."""
        try:
            if self._gathered(run, store_arg):
                return
            if store_arg is not False:
                self._merge_if_last(run, store_arg)
        except Exception as exc:  # never into the program: the partial is stored already
            run.faults.append(Fault(time.time(), "job", f"merge not done: {type(exc).__name__}: {exc}"))
        finally:
            if self.comm is not None:
                self.comm.close()
            if self.registry is not None:
                self.registry.unregister()
            if self.tracker is not None:
                from wattprint.tracking import slurm

                slurm.disarm(self.tracker)
                self.tracker = None

    def _gathered(self, run: Run, store_arg: bool | str) -> bool:
        """With a communicator and a normal end: rank 0 merges what every rank sends. True when done."""
        if self.comm is None or run.status != "finished":
            return False  # a signal or the exit hook ends this rank: the others may be dying too
        mine = run.to_dict(with_timeline=False, with_windows=False)
        got = self.comm.gather(mine, self.timeout_s)
        if self.comm.rank != 0:
            return got is not None  # sent: rank 0 merges
        if got is None:
            run.faults.append(Fault(time.time(), "job", f"ranks did not answer within {self.timeout_s:g} s: "
                                                        "the last rank to finish merges from the store"))
            return False
        from wattprint.store.jobs import merge, merge_job
        from wattprint.tracking.slurm import cross_check

        if store_arg is False:
            self.view = merge(got)
            return True
        store = _open(store_arg)
        try:
            self.view = merge_job(store, self.info.id, got, check=cross_check)
        finally:
            store.close()
        return True

    def _merge_if_last(self, run: Run, store_arg: bool | str) -> None:
        """Merge when every rank's partial has ended. Checked only once this rank's own partial
        reads back ended: its final write may still be pending (the store sink waits a bounded
        time), and two ranks each checking before their own write landed would both find the
        job incomplete and leave it unmerged. Each check following its own write, the later
        of any two ranks sees both."""
        from wattprint.store.jobs import complete, merge_job, partial_heads
        from wattprint.tracking.slurm import cross_check

        store = _open(store_arg)
        try:
            deadline = time.monotonic() + self.timeout_s
            while True:
                heads = partial_heads(store, self.info.id)  # headers only: most ranks stop here
                mine = next((h for h in heads if h["id"] == run.id), None)
                if (mine is not None and mine["status"] != "running") or time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
            if complete(heads):
                merge_job(store, self.info.id, check=cross_check)
        finally:
            store.close()


def acquire(ctx: JobContext | None, rapl_root: str | None, sensors: tuple[Any, ...],
            gpus: str | None, platform: Any = None) -> tuple[Sampler, list[Availability]]:
    """The process's sampler for what this rank measures, and the sensor survey (with the job's line).

    Host devices were elected before anything opens; GPUs, which need their sensors open to
    be known, are exchanged after, and a rank that sees a GPU a lower rank sees reopens without it.
    """
    if ctx is None:
        return _acquire_sampler(rapl_root, gpus, sensors, platform)
    sensors, gpus = ctx.sensor_choice(sensors, gpus)  # no host families (platform included) unless owned
    sampler, lines = _acquire_sampler(rapl_root, gpus, sensors, platform)
    try:
        narrower = ctx.gpu_choice(sampler)
        if narrower is None:
            narrower = ctx.gpu_choice_by_host(sampler)
    except BaseException:
        _release_sampler(sampler)
        raise
    if narrower is not None:
        _release_sampler(sampler)
        sampler, lines = _acquire_sampler(rapl_root, narrower, sensors, platform)
    ctx.register(sampler)
    return sampler, [*lines, doctor_line(ctx)]


def doctor_line(ctx: JobContext) -> Availability:
    """The run's sensor-survey line saying what this rank measures in its job."""
    from wattprint.sensors.base import Availability

    i = ctx.info
    gpus = "the GPUs no lower rank sees" if ctx.gpu_election else "the GPUs it sees"
    what = f"this host's CPU, DRAM and RAM and {gpus}" if ctx.owns_host else (
        f"{gpus} only: another rank measures this host's CPU, DRAM and RAM")
    return Availability(f"job rank {i.rank}/{i.world_size}", True,
                        f"job {i.id} (election: {ctx.election}): measures {what}")


def _warn_no_id() -> None:
    """Never silent: a rank that cannot join its job measures the whole machine, like every other rank."""
    import warnings

    from wattprint.errors import WattprintWarning

    launcher, rank, size = _job.ranks_without_id() or ("?", 0, 0)
    warnings.warn(f"wattprint: this process is rank {rank} of {size} ({launcher}) but no job id is shared by "
                  "the ranks (no SLURM_JOB_ID, TORCHELASTIC_RUN_ID, PMIX_NAMESPACE or MASTER_ADDR/PORT, no "
                  "initialised torch.distributed or MPI): it is measured as a plain run of the whole machine; "
                  "set WATTPRINT_JOB=<id> in every rank to count each device once", WattprintWarning, stacklevel=4)


def _open(store_arg: bool | str) -> Any:
    from wattprint.store.open import open_store

    return open_store(None if store_arg is True else str(store_arg))


def begin(settings: Settings) -> JobContext | None:
    """This rank's job context, or None when the process is not one rank of several."""
    setting = settings.get("job")
    if setting is not None and setting.strip().lower() in _job.OFF_WORDS:
        return None
    info = _job.detect(setting)
    timeout_s: float = settings.get("job_timeout_s")
    # the communicator is looked for only where ranks are likely: a launcher's variables, or the
    # program's own torch.distributed / MPI (torch.multiprocessing.spawn sets no RANK variable)
    likely = info is not None or _job.ranks_without_id() or "torch.distributed" in sys.modules \
        or "mpi4py.MPI" in sys.modules
    comm = _communicator(timeout_s) if likely else None
    if info is None and comm is None:
        if _job.ranks_without_id():
            _warn_no_id()
        return None
    boot = _job.boot_id(settings.get("boot_id_file"))
    proposal = info.id if info is not None else f"{comm.name}:{os.urandom(6).hex()}"  # type: ignore[union-attr]
    got = comm.allgather((boot, proposal), timeout_s) if comm is not None else None
    if info is None and got is None:  # ranks, but no job id they agree on and no rank 0 to ask
        _warn_no_id()
        return None
    if info is None:
        info = _job.JobInfo(got[0][1], 0, 1, launcher=comm.name, id_source=f"{comm.name} rank 0")  # type: ignore[index, union-attr]
    if comm is not None and got is not None:
        info.rank, info.world_size, info.id = comm.rank, comm.size, got[0][1]  # rank 0's id: one for all
    boots = [g[0] for g in got] if got is not None else None
    election = comm.name if got is not None else "environment"  # type: ignore[union-attr]
    owns = _job.host_owner(info.rank, boots, boot, info.local_rank)
    ctx = JobContext(info, boot, owns, election, comm if got is not None else None, timeout_s)
    ctx.signal_choice = settings.get("slurm_signal")
    from wattprint.tracking.hostreg import HostRegistry
    from wattprint.tracking.shared import Sharing

    ctx.registry = HostRegistry(settings.get("host_registry_dir"), boot)
    ctx.sharing = Sharing(ctx.registry, info.id)
    return ctx
