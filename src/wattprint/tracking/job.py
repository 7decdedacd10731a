"""Ranks of one distributed job: who this process is, which devices it measures.

A *job* is every process of one launch (torchrun, ``srun``, ``mpirun``,
Accelerate, DeepSpeed, Lightning …). Each process is a *rank*; each rank's
tracker writes a partial run, and the partials are merged into one job view
(:mod:`wattprint.store.jobs`) where every device is counted once.

**Who am I.** :func:`detect` reads the launcher's environment: torch's
``RANK``/``LOCAL_RANK``/``WORLD_SIZE``/``LOCAL_WORLD_SIZE`` (torchrun,
Accelerate, DeepSpeed and Lightning set these), OpenMPI's
``OMPI_COMM_WORLD_*``, MPICH/Intel MPI's ``PMI_RANK``/``PMI_SIZE``, and
Slurm's ``SLURM_PROCID``/``SLURM_LOCALID``/``SLURM_NTASKS``/``SLURM_NODEID``,
in that order (under ``srun torchrun`` the torch variables name the worker).

**One job id without talking.** Every rank must derive the same id on its
own: the ``job`` setting (``WATTPRINT_JOB``) if given, else Slurm's job (array
job and task, step), else ``TORCHELASTIC_RUN_ID``, else the MPI launch's
``PMIX_NAMESPACE``, else the rendezvous address ``MASTER_ADDR:MASTER_PORT``.
A restart of the same job (``SLURM_RESTART_COUNT``,
``TORCHELASTIC_RESTART_COUNT``) keeps the id and counts up ``restart``. Under
Slurm even a single process (a batch script, ``srun -n 1``) is a job of one
rank, so that a requeued job continues the same job record.

**Devices.** A GPU is its UUID (the channel ``gpu:<uuid>``); a CPU package,
its DRAM and the modelled CPU/RAM are the host's: ``<boot_id>/<channel>``,
where the boot id is the kernel's ``/proc/sys/kernel/random/boot_id``
(hostnames repeat in containers; a boot id does not). The ``boot_id_file``
setting points elsewhere, which is how the tests simulate several nodes.

**Who measures what** (the election, :func:`host_owner`):

* with a communicator (torch.distributed, MPI), the ranks exchange their boot
  ids at start and the lowest rank on each boot id measures that host's
  CPU packages, DRAM and RAM;
* without one, the rank whose local rank is 0 does (``LOCAL_RANK``,
  ``OMPI_COMM_WORLD_LOCAL_RANK``, ``SLURM_LOCALID``; a launcher that gives no
  local rank makes every rank an owner, and the merge deduplicates);
* GPUs: with a communicator, the lowest rank that sees a GPU (by UUID) reads it
  (exchanged once the sensors are open); without one, every rank reads the GPUs
  it sees;
* the merge keeps each GPU UUID from the lowest rank that recorded it (and host
  devices likewise, per boot id), so a device is counted once even where the
  election could not know better.

Standard library only; nothing here talks to other processes (that is
:mod:`wattprint.tracking.ranks` and the communicators under ``integrations/``).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Protocol

    class Communicator(Protocol):
        """What the start/stop exchange needs from torch.distributed or MPI (never the hot path)."""

        name: str
        rank: int
        size: int

        def allgather(self, obj: Any, timeout_s: float) -> list[Any] | None:
            """Every rank's ``obj``, in rank order; None when a rank did not answer in time."""

        def gather(self, obj: Any, timeout_s: float) -> list[Any] | None:
            """On rank 0: every rank's ``obj``; elsewhere ``[]`` once sent. None: a rank did not answer."""

        def close(self) -> None:
            """Release what the communicator holds (its group); never raises."""


BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
HOST_COMPONENTS_NOT = ("gpu",)  # every other component is the host's (cpu, dram, ram, psys ...)
OFF_WORDS = ("off", "none", "no", "false", "0")

# (rank, local rank, world size, local world size, node index) per launcher, first match wins
_LAUNCHERS: tuple[tuple[str, tuple[str, str, str, str, str]], ...] = (
    ("torch", ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK")),
    ("openmpi", ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_SIZE",
                 "OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_COMM_WORLD_NODE_RANK")),
    ("pmi", ("PMI_RANK", "MPI_LOCALRANKID", "PMI_SIZE", "MPI_LOCALNRANKS", "")),
    ("slurm", ("SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS", "", "SLURM_NODEID")),
)
SLURM_FIELDS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_STEP_ID",
                "SLURM_RESTART_COUNT", "SLURM_JOB_NODELIST", "SLURM_JOB_NUM_NODES", "SLURM_NTASKS")


def _int(env: Mapping[str, str], name: str) -> int | None:
    if not name:
        return None
    raw = env.get(name, "").strip()
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


class JobInfo:
    """This process's place in a job: ids and ranks as the launcher (or the setting) gave them."""

    __slots__ = ("id", "rank", "local_rank", "world_size", "local_world_size", "node_index",
                 "launcher", "restart", "id_source", "slurm")

    def __init__(self, id: str, rank: int, world_size: int, *, local_rank: int | None = None,
                 local_world_size: int | None = None, node_index: int | None = None,
                 launcher: str = "setting", restart: int = 0, id_source: str = "setting",
                 slurm: dict[str, str] | None = None) -> None:
        self.id, self.rank, self.world_size = id, rank, world_size
        self.local_rank, self.local_world_size, self.node_index = local_rank, local_world_size, node_index
        self.launcher, self.restart, self.id_source = launcher, restart, id_source
        self.slurm = slurm or {}

    def __repr__(self) -> str:
        return f"JobInfo({self.id!r}, rank={self.rank}/{self.world_size}, launcher={self.launcher})"


def _ranks(env: Mapping[str, str]) -> tuple[str, int, int, int | None, int | None, int | None] | None:
    for launcher, (rank_v, local_v, size_v, lsize_v, node_v) in _LAUNCHERS:
        if launcher == "slurm" and not env.get("SLURM_STEP_ID"):
            continue  # a batch script (no step) is one process, whatever SLURM_NTASKS says
        rank, size = _int(env, rank_v), _int(env, size_v)
        if rank is not None and size is not None and 0 <= rank < size:
            return launcher, rank, size, _int(env, local_v), _int(env, lsize_v), _int(env, node_v)
    return None


def _job_id(env: Mapping[str, str]) -> tuple[str, str] | None:
    """The id every rank derives alike, and where it came from."""
    slurm_job = env.get("SLURM_ARRAY_JOB_ID") or env.get("SLURM_JOB_ID")
    if slurm_job:
        jid = f"slurm:{slurm_job}"
        if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
            jid += f"_{env['SLURM_ARRAY_TASK_ID']}"
        if env.get("SLURM_STEP_ID"):
            jid += f".{env['SLURM_STEP_ID']}"
        return jid, "SLURM_JOB_ID"
    run_id = env.get("TORCHELASTIC_RUN_ID", "")
    if run_id and run_id != "none":  # torchrun's static rendezvous says "none"
        return f"torchelastic:{run_id}", "TORCHELASTIC_RUN_ID"
    if env.get("PMIX_NAMESPACE"):
        return f"mpi:{env['PMIX_NAMESPACE']}", "PMIX_NAMESPACE"
    if env.get("MASTER_ADDR") and env.get("MASTER_PORT"):
        return f"torch:{env['MASTER_ADDR']}:{env['MASTER_PORT']}", "MASTER_ADDR:MASTER_PORT"
    return None


def detect(setting: str | None, env: Mapping[str, str] | None = None) -> JobInfo | None:
    """This process's job, or None when it is not one rank of several (and no job id is set).

    ``setting`` is the ``job`` setting: an explicit id shared by every rank
    (wins over the launcher's), ``off`` (never a job), or None (ask the environment).
    """
    env = os.environ if env is None else env
    if setting is not None and setting.strip().lower() in OFF_WORDS:
        return None
    ranks = _ranks(env)
    explicit = setting.strip() if setting and setting.strip() else None
    slurm_job = bool(env.get("SLURM_JOB_ID"))  # even one process: a requeue continues its job record
    if ranks is None and explicit is None and not slurm_job:
        return None
    launcher, rank, size, local, lsize, node = ranks or ("slurm" if slurm_job else "setting", 0, 1, None, None, None)
    if explicit is None and size <= 1 and not slurm_job:
        return None
    found = (explicit, "job setting") if explicit else _job_id(env)
    if found is None:
        return None  # several ranks but nothing they agree on: a communicator may still name one
    restart = _int(env, "SLURM_RESTART_COUNT") or _int(env, "TORCHELASTIC_RESTART_COUNT") or 0
    slurm = {k: env[k] for k in SLURM_FIELDS if env.get(k)}
    return JobInfo(found[0], rank, size, local_rank=local, local_world_size=lsize, node_index=node,
                   launcher=launcher, restart=restart, id_source=found[1], slurm=slurm)


def ranks_without_id(env: Mapping[str, str] | None = None) -> tuple[str, int, int] | None:
    """(launcher, rank, world size) when the environment names ranks but no shared job id."""
    got = _ranks(os.environ if env is None else env)
    return None if got is None or got[2] <= 1 else (got[0], got[1], got[2])


def boot_id(path: str | None = None) -> str:
    """This host's boot id (a fresh one per boot; the same for every container on the host)."""
    try:
        with open(path or BOOT_ID_PATH, encoding="ascii") as fh:
            text = fh.read().strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    if text:
        return text
    from wattprint.host import hostname  # no boot id (not Linux): the name is the best left

    return f"host:{hostname()}"


def is_host_channel(component: str) -> bool:
    """True for channels of the host (CPU packages, DRAM, RAM, psys), False for a GPU's."""
    return component not in HOST_COMPONENTS_NOT


def device_key(channel: str, component: str, boot: str) -> str:
    """The device a channel measures, the same in every rank: ``gpu:<uuid>`` or ``<boot_id>/<channel>``."""
    return f"{boot}/{channel}" if is_host_channel(component) else channel


def host_owner(me: int, boots: list[str] | None, my_boot: str, local_rank: int | None) -> bool:
    """Whether rank ``me`` measures its host's devices.

    ``boots`` (each rank's boot id, by rank) comes from a communicator: the lowest
    rank on ``my_boot`` owns the host. Without it, local rank 0 owns it (no
    local rank known: every rank does, and the merge keeps the lowest).
    """
    if boots is not None:
        return boots.index(my_boot) == me if my_boot in boots else True
    return local_rank is None or local_rank == 0


def host_families(choice: tuple[Any, ...]) -> tuple[Any, ...]:
    """The part of a sensor choice a rank keeps when another rank owns its host: the GPUs only.

    A user's own sensors (a wall-plug meter, a PDU) measure the host, so they go too.
    """
    return tuple(e for e in choice if isinstance(e, str) and e in ("nvml", "amd"))
