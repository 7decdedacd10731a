"""What the NVIDIA and AMD GPU sensors share: device identity, bands, the TDP table.

Kept apart from :mod:`wattprint.sensors.gpu.selection` (selection, opening) so that the
vendor modules can import it without an import cycle. Standard library only.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from wattprint._record import FrozenRecord, Record
from wattprint.sensors.base import Availability, Channel, Kind, Method, Sensor

TYPE_CHECKING = False  # not from typing: importing it costs more than this module
if TYPE_CHECKING:
    from typing import Any

# Uncertainty bands (relative, 0.05 = ±5 %) for GPU channels.
#
# * Counter: NVML documents its board power reading as accurate to about ±5 % of
#   the draw, and the total-energy counter (Volta+) is fed by the same sensor.
# * Power integrated, older GPUs (before Ampere, and GA100 = A100): the reading
#   is instantaneous; integrating it at ~1 Hz adds sampling error to the ±5 %.
# * Power integrated, Ampere (except GA100) and newer: nvmlDeviceGetPowerUsage
#   returns a 1-second average, and on A100/H100 the sensor itself samples only
#   about 25 % of the runtime (Yang, Adamek, Armour, "Part-time Power
#   Measurements: nvidia-smi's Lack of Attention", arXiv 2312.02741 / SC'24;
#   their corrections cut energy error by 35 % on average, up to 65 %), so short
#   or phase-aligned bursts are mis-weighted; see
#   /work/shared/notes/accuracy-distributed-standards.md §4.2.
# * Modelled (TDP × utilisation): TDP models are good to ±30-50 % at best.
BAND_COUNTER = 0.05
BAND_POWER_INSTANT = 0.10
BAND_POWER_AVERAGED = 0.15
BAND_MODELLED = 0.50

# Share of TDP a GPU draws when idle, used by the modelled path:
# P(u) = TDP × (IDLE_FRACTION + (1 − IDLE_FRACTION) × u), u = utilisation 0..1.
# 0.11 is the min/max ratio the Cloud Carbon Footprint GPU table gives
# (e.g. A100 46/407 W, V100 35/306 W, T4 8/71 W); a GPU at 0 % utilisation is
# not at 0 W, and a model that said so would under-count every idle second.
IDLE_FRACTION = 0.11


class GpuIdentity(FrozenRecord):
    """One physical GPU as the vendor library enumerates it.

    ``index`` is the vendor library's enumeration index (``nvidia-smi``'s
    index for NVIDIA, the amdsmi handle order for AMD). ``uuid`` is the id as
    the library prints it (``GPU-8f3a...`` for NVIDIA). ``mig`` lists the
    UUIDs of MIG instances carved out of this GPU (empty when MIG is off).
    """

    __slots__ = ("vendor", "index", "uuid", "name", "mig", "bdf")
    vendor: str  # "nvidia" | "amd"
    index: int
    uuid: str
    name: str
    mig: tuple[str, ...]
    bdf: str

    def __init__(self, vendor: str, index: int, uuid: str, name: str, mig: tuple[str, ...] = (),
                 bdf: str = "") -> None:
        super().__init__(vendor, index, uuid, name, mig, bdf)


class Selected(Record):
    """A GPU chosen for measurement, and why (for doctor and the channel detail)."""

    __slots__ = ("gpu", "reason", "via_mig")

    def __init__(self, gpu: GpuIdentity, reason: str, via_mig: list[str] | None = None) -> None:
        self.gpu = gpu
        self.reason = reason
        self.via_mig: list[str] = via_mig if via_mig is not None else []  # MIG instances that led here


class TdpEntry(FrozenRecord):
    """One row of ``hwdb/gpu_tdp.csv``: board power in watts and where it comes from."""

    __slots__ = ("vendor", "model", "tdp_w", "source")
    vendor: str
    model: str
    tdp_w: float
    source: str

    def __init__(self, vendor: str, model: str, tdp_w: float, source: str) -> None:
        super().__init__(vendor, model, tdp_w, source)


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (amdsmi messages contain newlines and tabs)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def normalise_name(name: str) -> str:
    """Lower-case a marketing name and turn ``-``/``_`` into spaces, for table matching."""
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[re.Pattern[str], TdpEntry], ...]:
    rows = []
    path = Path(__file__).parent.parent / "hwdb" / "gpu_tdp.csv"  # a file path: importlib.resources costs import time
    with path.open("r", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(line for line in fh if not line.startswith("#")):
            entry = TdpEntry(row["vendor"], row["model"], float(row["tdp_w"]), row["source"])
            rows.append((re.compile(row["pattern"]), entry))
    return tuple(rows)


def lookup_tdp(name: str) -> TdpEntry | None:
    """The table row whose pattern matches the device name (first match wins), or None.

    Rows are ordered most specific first (``a100 pcie 80gb`` before ``a100 pcie``),
    and patterns are regular expressions searched in :func:`normalise_name`'s output.
    """
    key = normalise_name(name)
    for pattern, entry in _table():
        if pattern.search(key):
            return entry
    return None


def modelled_power_w(tdp_w: float, utilisation_pct: float) -> float:
    """Modelled board power in W from TDP (W) and utilisation (0-100 %)."""
    u = min(max(utilisation_pct, 0.0), 100.0) / 100.0
    return tdp_w * (IDLE_FRACTION + (1.0 - IDLE_FRACTION) * u)


# --------------------------------------------------------------------------- shared plumbing

# Consecutive transient read errors (timeouts, "no data yet") tolerated before a
# GPU channel is declared lost. While tolerated, the channel is left out of that
# reading (the sampler keeps its last total).
MAX_TRANSIENT_ERRORS = 5


class Probe(Record):
    """What a vendor module found: library-level doctor lines, GPUs, and how to open them.

    ``inventory`` is None when the library is missing or would not start (then
    ``lines`` says why and how to fix it). ``open(selected, notes)`` builds the
    sensor for the selected GPUs (None if none could be measured) and one doctor
    line per GPU, selected or not; it releases the library when nothing is used.
    """

    __slots__ = ("lines", "inventory", "open")

    def __init__(
        self,
        lines: list[Availability],
        inventory: list[GpuIdentity] | None,
        open: Callable[[list[Selected], list[str]], tuple[Sensor | None, list[Availability]]],
    ) -> None:
        self.lines = lines
        self.inventory = inventory
        self.open = open


def no_open(selected: list[Selected], notes: list[str]) -> tuple[Sensor | None, list[Availability]]:
    """``Probe.open`` for a vendor whose library is unavailable."""
    return None, []


class GpuDevice(Record):
    """Per-GPU reading state inside a vendor sensor."""

    __slots__ = ("channel", "handle", "identity", "method", "tdp_w", "origin", "last", "offset_j", "scale_j",
                 "transient", "sub_handles")

    def __init__(
        self,
        channel: str,
        handle: Any,
        identity: GpuIdentity,
        method: Method,
        tdp_w: float = 0.0,
        origin: float = 0.0,
        last: float = 0.0,
        offset_j: float = 0.0,
        scale_j: float = 1.0,
        transient: int = 0,
        sub_handles: list[Any] | None = None,
    ) -> None:
        self.channel = channel
        self.handle = handle
        self.identity = identity
        self.method = method
        self.tdp_w = tdp_w
        self.origin = origin  # counter value (vendor units) taken as zero
        self.last = last  # last raw counter value (vendor units)
        self.offset_j = offset_j  # energy carried over counter wraps/resets, J
        self.scale_j = scale_j  # joules per counter unit
        self.transient = transient
        self.sub_handles: list[Any] = sub_handles if sub_handles is not None else []  # MIG instance handles


def not_selected(who: str, head: str) -> Availability:
    """Doctor line for a GPU present but not visible to the tracked work."""
    return Availability(
        who, False, f"{head}: not measured, not visible to the tracked work",
        "use --gpus all (or its index/UUID) to measure it",
    )


def gpu_channel(gpu: GpuIdentity, method: Method, band: float, detail: str) -> Channel:
    """The ``gpu:<uuid>`` channel: counters are cumulative energy, the rest power to integrate."""
    kind = Kind.ENERGY if method is Method.COUNTER else Kind.POWER
    return Channel(f"gpu:{gpu.uuid}", "gpu", method, kind, band, True, detail, device=gpu.name)


class GpuSensorBase(Sensor):
    """Common fault handling for the NVIDIA and AMD sensors.

    A GPU that fails for good is removed from :attr:`devices`, named once in
    :attr:`faults` and never read again; the others go on. ``notes`` collects
    non-fatal events (a counter reset) as (channel, message) for the run record.
    """

    notes: list[tuple[str, str]]  # always a list here: Sensor.__init__ sets one
    # NVML and amdsmi are not fork-safe: a forked child never reads or closes the parent's
    # sensor (tracking/sampler.py, Sampler.after_fork_in_child)
    fork_safe = False

    def __init__(self, name: str, devices: list[GpuDevice], channels: list[Channel]) -> None:
        super().__init__(name=name, channels=channels)
        self.devices: list[GpuDevice] = devices
        self._closed = False

    def _lose(self, dev: GpuDevice, message: str) -> None:
        if dev in self.devices:
            self.devices = [d for d in self.devices if d is not dev]
            self.faults.append((dev.channel, message))

    def _failed(self, dev: GpuDevice, exc: BaseException, transient: bool) -> None:
        """A reading raised: count a transient error, or end the GPU's channel for good."""
        what = f"{dev.identity.name} {dev.identity.uuid}: {one_line(exc)}"
        if transient:
            self._transient(dev, what)
        else:
            self._lose(dev, f"{what}; GPU lost, its channel ends here")

    def _transient(self, dev: GpuDevice, message: str) -> None:
        dev.transient += 1
        if dev.transient >= MAX_TRANSIENT_ERRORS:
            self._lose(dev, f"{message} ({dev.transient} reads in a row); channel ended")

    def _counter_joules(self, dev: GpuDevice, raw: float, wrap: float | None = None) -> float:
        """Turn a raw counter value into joules since open, across wraps and resets.

        ``wrap`` is the counter's modulus when it is known to wrap. A decrease
        without a known modulus is a reset (driver reload): the energy so far is
        kept and counting restarts from the new value, with a note.
        """
        if raw < dev.last:
            dev.offset_j += (dev.last - dev.origin) * dev.scale_j
            if wrap is not None and dev.last < wrap:
                dev.offset_j += (wrap - dev.last) * dev.scale_j  # up to the wrap
                dev.origin = 0.0  # then from zero to raw
            else:
                self.notes.append(
                    (dev.channel, "energy counter went backwards (driver reload?); counting resumed")
                )
                dev.origin = raw
        dev.last = raw
        dev.transient = 0
        return dev.offset_j + (raw - dev.origin) * dev.scale_j

    # -- processes and closing: the vendor supplies _process_table() and _release() --

    def _process_table(self) -> dict[str, dict[int, int | None]]:
        """Channel → {pid: GPU memory bytes or None}; channels that cannot list are left out."""
        raise NotImplementedError

    def _release(self) -> None:
        """Shut the vendor library down."""

    def gpu_processes(self) -> dict[str, list[int]]:
        """Channel → sorted PIDs using that GPU now.

        A channel whose GPU cannot list processes (not supported, no
        permission) is left out, so ``{}`` means "unknown" and ``{"gpu:…": []}``
        means "nobody". PIDs are as the driver reports them: in a container
        without the host PID namespace they may match no local process. For a
        MIG parent, processes of every instance count.
        """
        return {ch: sorted(t) for ch, t in self._process_table().items()}

    def gpu_process_memory(self) -> dict[str, dict[int, int]]:
        """Channel → {pid: bytes of GPU memory} where the driver reports it."""
        out: dict[str, dict[int, int]] = {}
        for ch, table in self._process_table().items():
            known = {pid: mem for pid, mem in table.items() if mem is not None}
            if known:
                out[ch] = known
        return out

    def close(self) -> None:
        """Release the vendor library (once). Never raises."""
        if not self._closed:
            self._closed = True
            self._release()
