"""The run record: the one shape of a run as data.

:meth:`wattprint.tracking.run.Run.to_dict` produces a :class:`RunRecord`;
:meth:`wattprint.store.sqlite.SqliteStore.get_run` reads one back (and
``list_runs`` gives :class:`RunHeader` rows, the record without its
channels, windows and timeline); ``--json`` writes one; every report is
built from one (:func:`wattprint.report.schema.build_report`). So a report
never cares whether its run is live or stored, and
``tests/test_record_roundtrip.py`` proves that a run survives the store
unchanged, windows included.

Units: joules, seconds, grams CO2e; ``band`` is a relative half-width
(0.05 = ±5 %). Times named ``*_utc`` here are Unix seconds (the report turns
them into ISO 8601 strings).

Why this module imports :mod:`typing` at run time while the engine avoids it:
the TypedDicts below are real classes (so tests can hold a record against
its declared keys), and only modules off the ``import wattprint`` path load
this one at run time (the store, the reports). The engine's modules
(``run.py``, ``measure.py``, ``attribution.py``, ``baseline.py``) import it
under ``TYPE_CHECKING`` only, which keeps ``import wattprint`` and
``wattprint.Tracker`` free of ``typing``. The live side of the same figures
is :mod:`wattprint.tracking.measure` (``Measurement``, ``ChannelTotal``,
``Interval``). ``IntensityRecord`` lives in :mod:`wattprint.intensity.record`
(``intensity/`` imports nothing from the engine).
"""

from __future__ import annotations

from typing import TypedDict

from wattprint.intensity.record import IntensityRecord

__all__ = [
    "AttributionChannelRecord",
    "SlurmEnergyRecord",
    "SlurmSignalRecord",
    "AttributionRecord",
    "BaselineRecord",
    "BudgetRecord",
    "ChannelRecord",
    "EmbodiedItem",
    "EmbodiedRecord",
    "FaultRecord",
    "IntervalRecord",
    "PredictionCheckpoint",
    "PredictionPoint",
    "PredictionRecord",
    "ProgressRecord",
    "JobNodeRecord",
    "JobPartRecord",
    "JobRecord",
    "PlatformRecord",
    "RunHeader",
    "RunRecord",
    "SensorRecord",
    "SpanTotals",
    "WindowRecord",
    "WindowStatsRecord",
]


class ChannelRecord(TypedDict):
    """Energy of one channel over a span (a run or a window), with how it is known."""

    name: str
    component: str  # gpu, cpu, dram, ram, psys ...
    method: str  # counter, power-integrated, modelled
    band: float
    energy_j: float
    in_total: bool  # False: overlaps other channels (psys), never added to the total
    detail: str
    emissions_g: float | None  # location-based; None when stored before intensity was known


class ProgressRecord(TypedDict):
    """Units of work counted during a span (``run.step(samples=…, tokens=…)``)."""

    steps: int
    samples: int
    tokens: int


class _Progress(TypedDict, total=False):
    # absent when nothing was counted (and in records written before it existed)
    progress: ProgressRecord


class SpanTotals(_Progress):
    """What every span carries: its totals over the channels that count."""

    name: str
    start_utc: float
    duration_s: float
    energy_j: float
    energy_kwh: float
    band: float  # energy-weighted mean of the counted channels' bands (units.combined_band)
    emissions_g: float | None  # NaN or None: intensity not known (yet)
    market_emissions_g: float | None  # only with a contractual (market-based) factor


class WindowRecord(SpanTotals):
    """A named sub-span of a run."""

    channels: dict[str, ChannelRecord]
    offset_s: float  # from the run's start (monotonic clock)
    parent: str | None  # name of the enclosing window
    estimated: dict[str, str]  # channel -> how its energy was estimated (short windows)


class IntervalRecord(TypedDict):
    """One timeline row: energy per channel between two instants of the run."""

    t0_s: float
    t1_s: float
    start_utc: float
    energy_j: dict[str, float]


class WindowStatsRecord(TypedDict):
    """Windows of one name taken together (see :func:`wattprint.tracking.measure.window_stats`)."""

    calls: int
    energy_j: float
    min_j: float
    max_j: float
    duration_s: float
    estimated_calls: int
    mean_j: float
    time_share: float


class SensorRecord(TypedDict):
    """One line of the sensor survey (``Availability``)."""

    sensor: str
    available: bool
    detail: str
    fix: str


class FaultRecord(TypedDict):
    """Something that went wrong during the run (``Fault``)."""

    wall: float
    source: str
    message: str


class AttributionChannelRecord(TypedDict):
    """The tracked process tree's part of one channel."""

    energy_j: float
    share: float
    method: str


class AttributionRecord(TypedDict):
    """The tracked process tree's share of the machine (``Attributor.to_dict``)."""

    pid: int
    processes_seen: int
    energy_j: float
    machine_energy_j: float
    rest_of_machine_j: float
    channels: dict[str, AttributionChannelRecord]
    gpu_users: dict[str, list[int]]
    gpu_sole_user: dict[str, bool | None]  # None: not known yet


class BaselineRecord(TypedDict):
    """Idle and dynamic energy from an idle baseline (``Baseline.apply``)."""

    source: str
    host: str
    measured_utc: float
    duration_s: float
    power_w: dict[str, float]
    idle_energy_j: dict[str, float]
    dynamic_energy_j: dict[str, float]
    dynamic_total_j: float
    notes: list[str]


class BudgetRecord(TypedDict):
    """A run's budget and what happened to it (:class:`wattprint.tracking.budget.Budget`);
    ``*_at_s`` are seconds from the run's start, the texts the lines said."""

    energy_j: float | None
    emissions_g: float | None
    warn_at: float
    action: str  # warn, stop
    grace_s: float
    warned_at_s: float | None
    warned: str | None
    predicted_at_s: float | None  # the prediction's lower bound went over a limit
    predicted: str | None
    exceeded_at_s: float | None
    exceeded: str | None
    stopped: bool  # the stop was carried out: the command signalled, or BudgetExceeded raised
    killed: bool  # the command outlived the grace period after SIGTERM and got SIGKILL


class PredictionPoint(TypedDict):
    """Totals predicted at ``at_s`` from ``done`` of ``total``: each [low, expected, high]."""

    at_s: float
    done: float
    total: float
    burn_in: float  # units of work at the start left out as a slower burn-in
    level: float  # of the interval, e.g. 0.95
    duration_s: list[float]
    energy_j: list[float] | None
    emissions_g: list[float] | None


class PredictionError(TypedDict):
    """A checkpoint against the actual total: (expected - actual) / actual, and whether the
    interval held the actual."""

    relative: float
    covered: bool


class PredictionCheckpoint(PredictionPoint, total=False):
    """What was predicted when ``fraction`` of the work was done (and its error, once known)."""

    fraction: float
    error: dict[str, PredictionError | None]


class PredictionActual(TypedDict):
    """The run's figures when its work was done (``done`` reached ``total``)."""

    duration_s: float
    energy_j: float
    emissions_g: float | None


class PredictionRecord(TypedDict):
    """``run.progress()``'s prediction as the run keeps it (:mod:`wattprint.tracking.predict`)."""

    total: float
    done: float
    level: float
    latest: PredictionPoint | None
    checkpoints: list[PredictionCheckpoint]
    actual: PredictionActual | None


class EmbodiedItem(TypedDict):
    """One device's embodied emissions amortised over the run (:mod:`wattprint.embodied`)."""

    device: str  # a channel (gpu:..., cpu:package-0) or "host"
    figure: str  # the key of the user's figure it used (the channel, its model, or "host")
    kg: float
    years: float
    source: str
    share: float  # the run's share of the device over its duration (1: the whole device)
    share_basis: str
    emissions_g: float


class EmbodiedRecord(TypedDict):
    """The SCI's M term for the run, kept apart from the operational emissions."""

    emissions_g: float
    items: list[EmbodiedItem]
    unmatched: list[str]  # figures given that matched no device of the run
    basis: str


class _Foresight(TypedDict, total=False):
    # absent from runs without a budget / progress / embodied figures (and from older runs)
    budget: BudgetRecord | None
    prediction: PredictionRecord | None
    embodied: EmbodiedRecord | None

class JobPartRecord(_Progress):
    """One rank's partial run as the job view counts it (:mod:`wattprint.store.jobs`).

    ``progress``: the units of work this rank counted (absent when none, and in older views).
    """

    run_id: str
    rank: int
    restart: int
    node: str  # the host's name, with its boot id's start where two hosts share a name
    boot_id: str
    status: str
    energy_j: float  # what this rank's kept channels add up to (duplicates left out)
    channels: list[str]  # the job's channel names this rank's figures fill
    duplicates: list[str]  # channels another (lower) rank also measured: not counted here


class JobNodeRecord(TypedDict):
    """One host of a job: its ranks and what its devices used."""

    node: str
    boot_id: str
    ranks: list[int]
    energy_j: float
    channels: list[str]


class SlurmEnergyRecord(TypedDict):
    """Slurm's own energy figure for the job step (sacct's ConsumedEnergy) beside ours."""

    target: str  # what sacct was asked about: JOB.STEP or JOB.batch
    energy_j: float | None  # Slurm's figure; None: not available (``note`` says why)
    ours_j: float  # the merged view's energy over the same start (restart) of the job
    difference_pct: float | None  # (ours - Slurm's) / Slurm's x 100
    note: str


class SlurmSignalRecord(TypedDict):
    """Slurm's warning signal (``--signal``) before a time limit or preemption: the run went on."""

    signal: str  # SIGUSR1, SIGUSR2
    wall: float


class SharedDeviceRecord(TypedDict):
    """A device another job also used while this run measured it (two jobs on one node)."""

    channel: str  # this run's channel for it
    device: str  # the device's key: ``<boot_id>/<channel>`` or ``gpu:<uuid>``
    other_jobs: list[str]  # the other jobs' ids seen on it (in the host registry) during the run
    overlap_s: float  # about how long they were seen together (from the sightings)
    device_energy_j: float  # the whole device over the run
    share_j: float | None  # this job's attributed share (what its total counts); None: not split
    split: str  # how the share was found, or why it was not


class JobRecord(TypedDict, total=False):
    """A run's place in a distributed job: a rank's partial run, or the merged job view.

    A partial carries ``rank`` (an int); the merged view has ``rank`` None,
    ``merged`` True and the breakdown (``parts``, ``nodes``, ``method``).
    """

    id: str
    rank: int | None
    world_size: int
    local_rank: int | None
    launcher: str  # torch, openmpi, pmi, slurm, setting
    id_source: str  # where the job id came from (SLURM_JOB_ID, TORCHELASTIC_RUN_ID ...)
    election: str  # how host devices were given to ranks: torch.distributed, mpi, environment
    owns_host: bool  # this rank measured its host's CPU packages, DRAM and RAM
    gpus_elected: bool  # GPUs were given to the lowest rank seeing each (over a communicator)
    node: str
    boot_id: str
    restart: int  # SLURM_RESTART_COUNT / TORCHELASTIC_RESTART_COUNT
    slurm: dict[str, str]
    merged: bool
    ranks_seen: int
    restarts: int
    parts: list[JobPartRecord]
    nodes: list[JobNodeRecord]
    method: str  # how devices were deduplicated, in words
    slurm_energy: SlurmEnergyRecord  # the merged view of a Slurm job: sacct's figure beside ours
    slurm_signal: SlurmSignalRecord  # Slurm warned of the end (a rank's; the view: the latest start's)
    shared_devices: list[SharedDeviceRecord]  # only where another job used a device of this run's


class _Job(TypedDict, total=False):
    job: JobRecord | None  # one rank of a distributed job, or the merged job view (absent before schema 8)


class _Team(TypedDict, total=False):
    owner: str | None  # who ran it (the OS user unless set); absent from records before schema 6
    project: str | None  # the project it counts for (setting ``project``), or None


class PlatformRecord(TypedDict):
    """The run's whole-machine total over the run (absent: no meter was the total)."""

    channel: str  # the whole-machine channel the run's energy used
    refresh_s: float  # the meter's refresh period or averaging window
    metered_s: float  # seconds the meter's reading was the total
    fallback_s: float  # seconds the components (+ the modelled rest) stood in while it gave none
    fallback_spans: int  # how many separate spans fell back
    edge_band: float  # the part of the total's band from the meter's refresh at the run's edges
    short: bool  # the run lasted less than SHORT_PERIODS refresh periods


class _Platform(TypedDict, total=False):
    platform: PlatformRecord | None  # absent from runs recorded before it existed


class RunHeader(SpanTotals, _Team, _Foresight, _Job, _Platform):
    """A run without its channels, windows and timeline: one row of ``list_runs``."""

    id: str
    # running, finished, failed, interrupted, stopped (for its budget), preempted (Slurm), killed (stored only)
    status: str
    command: list[str] | None
    tags: dict[str, str]
    end_utc: float | None
    exit_code: int | None
    host: str
    pid: int
    cpu_model: str
    gpu_models: list[str]
    wattprint_version: str
    interval_s: float
    intensity: IntensityRecord | None
    sensors: list[SensorRecord]
    faults: list[FaultRecord]
    gpu_users: dict[str, list[int]]
    attribution: AttributionRecord | None
    baseline: BaselineRecord | None


class _Timeline(TypedDict, total=False):
    timeline: list[IntervalRecord]  # absent only from ``Run.to_dict(with_timeline=False)``
    # sampled intervals the timeline's rows stand for: len(timeline) unless older rows were
    # merged (a long run held in memory, or a report's downsampled read of the store)
    timeline_intervals: int


class RunRecord(RunHeader, _Timeline):
    """The whole run: header, channel totals, windows and (usually) the timeline."""

    channels: dict[str, ChannelRecord]
    windows: list[WindowRecord]
    window_stats: dict[str, WindowStatsRecord]


# -- checking a record that comes from outside (a --json file someone may have edited) ---------

_REQUIRED_RUN_KEYS = ("name", "start_utc", "duration_s", "channels")
_REQUIRED_CHANNEL_KEYS = ("name", "energy_j", "method", "band", "in_total")
_MAX_ABS = 1e15  # J, g, s, W ...: far beyond any run, and products of such numbers stay finite
_LAST_UTC = 32503680000.0  # 3000-01-01T00:00:00Z: with any offset below, still a printable date
_MAX_SECONDS = 1e10  # durations and offsets (~317 years)


def _number_problem(value: object, where: str, optional: bool) -> str | None:
    import math

    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return f"{where} must be a number"
    x = float(value)
    if math.isnan(x):  # NaN stands for "not known", like null, where null is allowed
        return None if optional else f"{where} must be a number, not NaN"
    if where.endswith(("_utc", ".wall")):  # Unix times (a fault's ``wall`` is one too)
        return None if 0.0 <= x <= _LAST_UTC else f"{where} is not a time (Unix seconds) between 1970 and 3000"
    if where.endswith("_s"):
        return None if abs(x) <= _MAX_SECONDS else f"{where} is out of range ({x:g} s)"
    return None if abs(x) <= _MAX_ABS else f"{where} is out of range ({x:g})"


def _type_problem(value: object, hint: object, where: str) -> str | None:
    """What is wrong with ``value`` against a type hint of this module, or None."""
    import types
    import typing

    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        if float in args:
            return _number_problem(value, where, optional=type(None) in args)
        found = [_type_problem(value, h, where) for h in args]
        return None if None in found else found[0]
    if hint is type(None):
        return None if value is None else f"{where} must be null"
    if hint is float:
        return _number_problem(value, where, optional=False)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return None if abs(value) <= _MAX_ABS else f"{where} is out of range"
        return f"{where} must be an integer"
    if hint in (str, bool):
        return None if isinstance(value, hint) else f"{where} must be {'text' if hint is str else 'true/false'}"
    if origin is list:
        if not isinstance(value, list):
            return f"{where} must be a list"
        (item,) = typing.get_args(hint)
        return next((p for i, v in enumerate(value) if (p := _type_problem(v, item, f"{where}[{i}]"))), None)
    if origin is dict:
        if not isinstance(value, dict):
            return f"{where} must be an object"
        _, item = typing.get_args(hint)
        return next((p for k, v in value.items() if (p := _type_problem(v, item, f"{where}.{k}"))), None)
    if isinstance(hint, type) and typing.is_typeddict(hint):
        return _record_problem(value, hint, where)
    return None  # a type this check does not look inside (e.g. the intensity record)


def _record_problem(value: object, kind: type, where: str, required: tuple[str, ...] = ()) -> str | None:
    import typing

    if not isinstance(value, dict):
        return f"{where} must be an object"
    missing = [k for k in required if k not in value]
    if missing:
        return f"{where} has no '{missing[0]}'"
    hints = typing.get_type_hints(kind)
    for key, hint in hints.items():
        if key in value and (problem := _type_problem(value[key], hint, f"{where}.{key}")):
            return problem
    return None


def check_run_record(data: object) -> str | None:
    """Why ``data`` cannot be read as a run record (one line), or None when it can.

    Every key that is present must have the declared type (nested records
    included); the keys every report needs must be there. Keys a run of an
    older version lacks are allowed, so older ``--json`` files still read.
    """
    problem = _record_problem(data, RunRecord, "run", _REQUIRED_RUN_KEYS)
    if problem is None and isinstance(data, dict):
        intensity = data.get("intensity") or {}
        factor = intensity.get("market_g_per_kwh")
        if data.get("market_emissions_g") is not None and (factor is None or factor != factor):  # None/NaN
            problem = "run.market_emissions_g is set but run.intensity has no market_g_per_kwh"
    if problem is None and isinstance(data, dict):
        for name, channel in data["channels"].items():
            problem = _record_problem(channel, ChannelRecord, f"run.channels.{name}", _REQUIRED_CHANNEL_KEYS)
            if problem:
                break
    return problem
