"""Modelled CPU and RAM energy, for hosts without hardware counters (VMs, macOS, Windows).

Both channels are ``Method.MODELLED`` and ``Kind.ENERGY``: the sensor integrates
its own power estimate between reads, so :meth:`ModelSensor.read` returns
cumulative joules like a hardware counter would.

CPU (channel ``cpu:model``)
---------------------------
``P = TDP × f(u)``, with ``u`` the whole-machine CPU utilisation over the
interval since the previous read and ``f`` the Teads/Boavizta load curve:
0.12, 0.32, 0.75, 1.02 × TDP at 0, 10, 50, 100 % load, linear in between
(measured on AWS bare-metal hosts; /work/shared/notes/data-sources.md §4.1).
We use this rather than plain ``TDP × u`` because a CPU at 0 % load is not at
0 W: a linear model with no floor under-counts every idle second, which is
most seconds of a data-loading or GPU-bound ML job.

``u`` is computed by the sensor from ``psutil.cpu_times()`` deltas between its
own reads (never ``psutil.cpu_percent``, whose module-global state would
interfere with the user's own calls): busy = user + nice + system + irq +
softirq (+ Windows interrupt/dpc), idle = idle + iowait + steal (steal is time
the hypervisor gave to someone else), guest times excluded (Linux already
counts them in user). The energy of an interval is exact for the average
utilisation over that interval. When cpu_times has not advanced since the last
read (reads < 1 clock tick apart) the interval is carried over to the next
read instead of being charged at a guessed utilisation.

TDP comes from the embedded table (``hwdb/cpu_tdp.csv``) matched on the CPU
model name, times the number of sockets. When the model is unknown, or when we
run in a virtual machine (the table's TDP is then the whole host package, of
which the guest's vCPUs are an unknown share), we charge a per-thread default:
``DEFAULT_W_PER_THREAD`` × logical CPUs, capped at the matched package TDP when
there is one.

RAM (channel ``ram``)
---------------------
Constant ``RAM_W_PER_GB`` × installed GiB (``psutil.virtual_memory().total``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

from wattprint._record import FrozenRecord
from wattprint.sensors.base import Availability, Channel, Kind, Method, Sensor, SensorError
from wattprint.sensors.cpu.host import CpuInfo, detect_cpu

TYPE_CHECKING = False  # not from typing: importing it costs more than this module
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "BAND_CPU_DEFAULT",
    "BAND_CPU_TABLE",
    "BAND_RAM",
    "DEFAULT_W_PER_THREAD",
    "LOAD_CURVE",
    "ModelSensor",
    "RAM_W_PER_GB",
    "TdpChoice",
    "choose_tdp",
    "cpu_power_fraction",
]

# Teads/Boavizta: share of TDP drawn at a given load (load 0..1 -> fraction of TDP).
LOAD_CURVE: tuple[tuple[float, float], ...] = ((0.0, 0.12), (0.10, 0.32), (0.50, 0.75), (1.0, 1.02))

# TDP-equivalent watts per logical CPU when the CPU model is unknown (or a VM's share of
# the host package is). Cloud Carbon Footprint's SPECpower-derived maximum per vCPU for
# unknown hardware is 3.5 (AWS), 4.11 (GCP) and 3.54 (Azure) W; CodeCarbon also uses
# 4 W per thread. Cross-check, package TDP / threads: EPYC 7763 280/128 = 2.2,
# Xeon Platinum 8480+ 350/112 = 3.1, Xeon Gold 6248 150/40 = 3.75, Core i7-7600U
# 15/4 = 3.75, Ryzen 9 7950X 170/32 = 5.3. See hwdb/SOURCES.md.
DEFAULT_W_PER_THREAD = 4.0

# Green Algorithms (Lannelongue et al. 2021, referenceValues.csv): 0.3725 W per GB of
# memory; the figure is for memory *allocated*, and we apply it to all installed memory
# (the whole machine's RAM is powered whoever uses it). GB here is GiB: the figure
# derives from per-DIMM ratings such as 3 W per 8 GB module, and modules are sized in GiB.
RAM_W_PER_GB = 0.3725
_BYTES_PER_GIB = 1024**3

# Bands (relative): a TDP is a thermal design figure, not a measurement. Real package
# power at full load ranges from well under TDP (servers at base clock) to ~2x (desktop
# turbo PL2), and the idle floor varies 5-30 % of TDP between parts: ±40 % with a matched
# model. With the per-thread default the figure per thread itself spans 2-8 W across
# current parts (see above), so ±75 %. RAM: published per-GB figures span 0.28-0.41 W/GB
# (Boavizta, CCF, Green Algorithms) and per-DIMM figures vary with DDR generation and
# DIMM count more than with size: ±50 %.
BAND_CPU_TABLE = 0.40
BAND_CPU_DEFAULT = 0.75
BAND_RAM = 0.50

_IDLE_FIELDS = frozenset({"idle", "iowait", "steal"})
_EXCLUDED_FIELDS = frozenset({"guest", "guest_nice"})  # already inside "user" on Linux


def cpu_power_fraction(load: float) -> float:
    """Fraction of TDP drawn at ``load`` (0..1, clamped) on the Teads/Boavizta curve."""
    u = min(max(load, 0.0), 1.0)
    for (u0, f0), (u1, f1) in zip(LOAD_CURVE, LOAD_CURVE[1:]):
        if u <= u1:
            return f0 + (f1 - f0) * (u - u0) / (u1 - u0)
    return LOAD_CURVE[-1][1]


class TdpChoice(FrozenRecord):
    """The TDP-equivalent watts the CPU model charges at full load, and why.

    ``watts`` covers all the CPUs the OS sees (all sockets, or a VM's vCPUs).
    ``default_used`` is True when the per-thread default was used.
    """

    __slots__ = ("watts", "band", "reason", "default_used", "matched_name")
    watts: float
    band: float
    reason: str
    default_used: bool
    matched_name: str | None

    def __init__(self, watts: float, band: float, reason: str, default_used: bool,
                 matched_name: str | None = None) -> None:
        super().__init__(watts, band, reason, default_used, matched_name)


def choose_tdp(info: CpuInfo, tdp_w: float | None = None) -> TdpChoice:
    """Pick the TDP for ``info``: the user's figure, the table's, or the default."""
    if tdp_w is not None:
        if not tdp_w > 0:
            raise SensorError(
                f"CPU TDP must be a positive number of watts, got {tdp_w!r}",
                fix="give the package TDP of all sockets together, e.g. 280",
            )
        return TdpChoice(float(tdp_w), BAND_CPU_TABLE, f"TDP {tdp_w:g} W set by the user", False)

    from wattprint.sensors.hwdb import match_cpu

    threads = max(info.logical_cpus, 1)
    default_w = DEFAULT_W_PER_THREAD * threads
    per_thread = f"default {DEFAULT_W_PER_THREAD:g} W/thread used"
    sum_txt = f"{DEFAULT_W_PER_THREAD:g} W x {threads} threads = {default_w:g} W"
    if not info.model_name:
        return TdpChoice(
            default_w,
            BAND_CPU_DEFAULT,
            f"unknown CPU model: {per_thread} (the platform reports no model name; {sum_txt})",
            True,
        )
    match = match_cpu(info.model_name)
    if match is None:
        return TdpChoice(
            default_w,
            BAND_CPU_DEFAULT,
            f"unknown CPU model: {per_thread} ({info.model_name!r} is not in the table; "
            f"{sum_txt})",
            True,
        )
    row = match.row
    how = "" if match.how == "exact" else " (matched by model number)"
    package_w = row.tdp_w * info.sockets
    sockets = f" x {info.sockets} sockets" if info.sockets > 1 else ""
    if info.virtual:
        watts = min(default_w, package_w)
        return TdpChoice(
            watts,
            BAND_CPU_DEFAULT,
            f"virtual machine: {per_thread} ({sum_txt}, capped at the package TDP): "
            f"{info.model_name!r} matched {row.name!r}{how} ({row.tdp_w:g} W{sockets}), "
            f"but the guest's {threads} vCPUs are an unknown share of that host package",
            True,
            row.name,
        )
    return TdpChoice(
        package_w,
        BAND_CPU_TABLE,
        f"{info.model_name!r} matched {row.name!r}{how}: TDP {row.tdp_w:g} W{sockets}",
        False,
        row.name,
    )


# /proc/stat's aggregate "cpu" line, in order (proc(5)); values are clock ticks.
_PROC_STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")


class ProcStatTimes:
    """System-wide CPU times from Linux ``/proc/stat``, like ``psutil.cpu_times()`` but cheaper.

    The file stays open and is re-read with ``os.pread`` at offset 0; only the
    first line is parsed. This keeps psutil's import (~20 ms on a small VM) off
    the start path and its per-call parsing off the sampler's hot path.
    """

    def __init__(self, path: str = "/proc/stat") -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._tick = float(os.sysconf("SC_CLK_TCK"))
        self()  # fail now, not at the first sample, if the format is unexpected

    def _fields(self) -> list[int]:
        head = os.pread(self._fd, 512, 0)
        line = head[: head.index(b"\n")].split()
        if not line or line[0] != b"cpu":
            raise OSError("unexpected /proc/stat format")
        return [int(v) for v in line[1:]]

    def __call__(self) -> dict[str, float]:
        tick = self._tick
        return {k: v / tick for k, v in zip(_PROC_STAT_FIELDS, self._fields())}

    def busy_total(self) -> tuple[float, float]:
        """(busy, busy + idle) seconds, as :func:`_busy_total` computes them, without the dict.

        The sampler calls this every tick, so it avoids building the mapping: user,
        nice, system, irq, softirq are busy; idle, iowait, steal idle; guest time is
        already inside user.
        """
        f = self._fields()
        idle = f[3] + f[4] + (f[7] if len(f) > 7 else 0)
        busy = f[0] + f[1] + f[2] + f[5] + f[6]
        return busy / self._tick, (busy + idle) / self._tick

    def close(self) -> None:
        try:
            os.close(self._fd)
        except OSError:
            pass


def default_cpu_times() -> Callable[[], Any]:
    """``/proc/stat`` on Linux, psutil elsewhere (or when /proc is not readable)."""
    try:
        return ProcStatTimes()
    except (OSError, ValueError, AttributeError):
        import psutil

        return psutil.cpu_times


def installed_ram_bytes() -> int:
    """Installed memory: ``sysconf`` where POSIX offers it, psutil elsewhere."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        import psutil

        return int(psutil.virtual_memory().total)


def _times_dict(sample: Any) -> Mapping[str, float]:
    if isinstance(sample, Mapping):
        return sample
    return sample._asdict()  # psutil's namedtuple


def _busy_total(sample: Any) -> tuple[float, float]:
    busy = idle = 0.0
    for k, v in _times_dict(sample).items():
        if k in _EXCLUDED_FIELDS:
            continue
        if k in _IDLE_FIELDS:
            idle += v
        else:
            busy += v
    return busy, busy + idle


class ModelSensor(Sensor):
    """Modelled cumulative joules for ``cpu:model`` and/or ``ram``.

    ``cpu``/``ram`` choose the channels (``open_cpu_sensors`` drops ``ram`` when
    RAPL measures DRAM, and ``cpu`` when RAPL measures the packages).
    ``tdp_w`` overrides the table (watts for all sockets together). The hardware
    boundary is injectable for tests: ``cpu_info`` (else :func:`detect_cpu`),
    ``ram_bytes`` (else ``psutil.virtual_memory().total``), ``cpu_times`` (a
    callable returning a psutil ``cpu_times()`` namedtuple or a mapping of the
    same fields, in seconds), ``clock`` (monotonic nanoseconds).
    """

    def __init__(
        self,
        *,
        cpu: bool = True,
        ram: bool = True,
        tdp_w: float | None = None,
        cpu_info: CpuInfo | None = None,
        ram_bytes: int | None = None,
        cpu_times: Callable[[], Any] | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        super().__init__(name="model")
        if not (cpu or ram):
            raise SensorError("ModelSensor needs cpu=True or ram=True")
        self._clock = clock
        self._cpu = cpu
        self._ram = ram
        self._cpu_j = 0.0
        self._ram_j = 0.0
        self._last_load: float | None = None
        self.tdp: TdpChoice | None = None  # set when the CPU channel is on
        self.cpu_info: CpuInfo | None = None
        self.ram_bytes: int | None = None  # set when the RAM channel is on
        self.ram_w = 0.0
        channels: list[Channel] = []
        now = clock()
        if cpu:
            if cpu_times is None:
                cpu_times = default_cpu_times()
            self._cpu_times = cpu_times
            fast = getattr(cpu_times, "busy_total", None)
            self._busy_total: Callable[[], tuple[float, float]] = fast or (lambda: _busy_total(cpu_times()))
            self.cpu_info = cpu_info or detect_cpu()
            self.tdp = choose_tdp(self.cpu_info, tdp_w)
            self._busy, self._total = _busy_total(cpu_times())
            self._cpu_ns = now
            channels.append(
                Channel(
                    "cpu:model",
                    "cpu",
                    Method.MODELLED,
                    Kind.ENERGY,
                    self.tdp.band,
                    True,
                    f"TDP x Teads load curve; {self.tdp.reason}",
                )
            )
        if ram:
            if ram_bytes is None:
                ram_bytes = installed_ram_bytes()
            if ram_bytes <= 0:
                raise SensorError(f"installed memory must be > 0 bytes, got {ram_bytes}")
            self.ram_bytes = ram_bytes
            gib = ram_bytes / _BYTES_PER_GIB
            self.ram_w = gib * RAM_W_PER_GB
            self._ram_ns = now
            channels.append(
                Channel(
                    "ram",
                    "ram",
                    Method.MODELLED,
                    Kind.ENERGY,
                    BAND_RAM,
                    True,
                    f"{gib:.1f} GiB installed x {RAM_W_PER_GB} W/GiB = {self.ram_w:.2f} W, "
                    "constant",
                )
            )
        self.channels = channels

    @property
    def last_load(self) -> float | None:
        """Utilisation (0..1) over the last interval the CPU model integrated, if any."""
        return self._last_load

    def read(self) -> dict[str, float]:
        """Cumulative modelled joules per channel since the sensor was created."""
        now = self._clock()
        out: dict[str, float] = {}
        if self._cpu:
            assert self.tdp is not None
            try:
                busy, total = self._busy_total()
            except Exception as exc:  # psutil can fail transiently (e.g. /proc unreadable)
                self.faults.append(("cpu:model", f"cpu_times failed: {exc}"))
            else:
                d_total = total - self._total
                if d_total > 0:
                    load = min(max((busy - self._busy) / d_total, 0.0), 1.0)
                    dt = max(now - self._cpu_ns, 0) / 1e9
                    self._cpu_j += self.tdp.watts * cpu_power_fraction(load) * dt
                    self._busy, self._total, self._cpu_ns = busy, total, now
                    self._last_load = load
                # else: no tick elapsed; the interval is charged at the next read
            out["cpu:model"] = self._cpu_j
        if self._ram:
            self._ram_j += self.ram_w * max(now - self._ram_ns, 0) / 1e9
            self._ram_ns = now
            out["ram"] = self._ram_j
        return out

    def close(self) -> None:
        closer = getattr(self._cpu_times, "close", None) if self._cpu else None
        if closer is not None:
            closer()

    def describe(self) -> list[Availability]:
        """One line per channel, saying which figure was used and how sure it is."""
        return [
            Availability(f"model {c.name}", True, f"{c.method} (±{c.band:.0%}); {c.detail}")
            for c in self.channels
        ]
