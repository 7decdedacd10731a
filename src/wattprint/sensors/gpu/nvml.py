"""NVIDIA GPUs through NVML (``nvidia-ml-py``, module ``pynvml``), one channel per GPU.

Per GPU, the best reading the board offers, in this order:

1. ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since driver load, Volta and
   newer) → ``Kind.ENERGY``, ``Method.COUNTER``;
2. when that raises ``NVMLError_NotSupported``: ``nvmlDeviceGetPowerUsage``
   (mW) → ``Kind.POWER``, ``Method.POWER_INTEGRATED`` (the sampler integrates);
3. no power reading at all (some vGPUs): board power from ``hwdb/gpu_tdp.csv``
   (or the enforced power limit) × ``nvmlDeviceGetUtilizationRates`` →
   ``Kind.POWER``, ``Method.MODELLED``. Returning power and letting the sampler
   integrate keeps one integration rule for every power-like channel.

``pynvml`` is imported in :func:`probe` only, never when wattprint is imported;
a fake module object with the same functions and error classes can be passed
instead (tests).
"""

from __future__ import annotations

import os
import re
import sys

from wattprint.sensors.base import Availability, Channel, Method, Sensor
from wattprint.sensors.gpu.common import (
    BAND_COUNTER,
    BAND_MODELLED,
    BAND_POWER_AVERAGED,
    BAND_POWER_INSTANT,
    GpuDevice,
    GpuIdentity,
    GpuSensorBase,
    Probe,
    Selected,
    gpu_channel,
    lookup_tdp,
    modelled_power_w,
    no_open,
    normalise_name,
    not_selected,
    one_line,
)

TYPE_CHECKING = False  # not from typing: importing it costs more than this module
if TYPE_CHECKING:
    from typing import Any

VENDOR = "nvidia"
FIX_INSTALL = "pip install nvidia-ml-py (a wattprint dependency; reinstall wattprint)"
FIX_DRIVER = "install the NVIDIA driver (it provides NVML) if this machine has an NVIDIA GPU"

# Errors that may clear up on the next read; anything else ends the channel.
_TRANSIENT = (
    "NVMLError_Timeout",
    "NVMLError_NoData",
    "NVMLError_NotReady",
    "NVMLError_InUse",
    "NVMLError_IrqIssue",
    "NVMLError_Memory",
    "NVMLError_InsufficientResources",
)
_ARCH_AMPERE = 7  # NVML_DEVICE_ARCH_AMPERE; Ampere (except GA100) and newer average power over 1 s


def _text(value: Any) -> str:
    """NVML strings are ``str`` in recent bindings and ``bytes`` in old ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _errname(exc: BaseException) -> str:
    return type(exc).__name__


def _is(nvml: Any, exc: BaseException, name: str) -> bool:
    cls = getattr(nvml, name, None)
    return isinstance(cls, type) and isinstance(exc, cls)


def _driver_present() -> bool:
    return os.path.exists("/proc/driver/nvidia/version")


def _no_driver_on_linux(root: str = "/") -> bool:
    """True when Linux shows no trace of the NVIDIA kernel driver (not even in a container).

    Then NVML cannot start, and importing pynvml (~30 ms on a small VM) can be
    skipped. Containers given GPUs see /dev/nvidiactl, so they still probe; so
    does WSL2 (see :func:`wsl_nvml_library`). ``root`` prefixes every path (tests).
    """
    if not sys.platform.startswith("linux"):
        return False
    paths = ("proc/driver/nvidia", "dev/nvidiactl", "dev/nvidia0")
    return not any(os.path.exists(os.path.join(root, p)) for p in paths) and wsl_nvml_library(root) is None


WSL_LIB_DIR = "usr/lib/wsl/lib"


def wsl_nvml_library(root: str = "/") -> str | None:
    """Under WSL2, the NVML library the Windows driver provides; None elsewhere.

    WSL2 has no /proc/driver/nvidia and no /dev/nvidia*: the GPU is reached
    through /dev/dxg, and the driver's user-space libraries (libnvidia-ml.so.1
    among them) are mounted in /usr/lib/wsl/lib, which is not always on the
    loader's path (containers, conda). Two stat calls.
    """
    if not os.path.exists(os.path.join(root, "dev/dxg")):
        return None
    lib = os.path.join(root, WSL_LIB_DIR, "libnvidia-ml.so.1")
    return lib if os.path.exists(lib) else None


def _preload_wsl_nvml(root: str = "/") -> Availability | None:
    """Load WSL2's libnvidia-ml.so.1 by its path, so pynvml's load by name finds it already loaded.

    Returns a doctor line when the library is there but cannot be loaded; None otherwise.
    """
    lib = wsl_nvml_library(root)
    if lib is None:
        return None
    import ctypes  # noqa: PLC0415 - only under WSL2

    try:
        ctypes.CDLL(lib, mode=getattr(ctypes, "RTLD_GLOBAL", 0))
    except OSError as exc:
        return Availability("nvml", False, f"WSL2: {lib} cannot be loaded: {exc}",
                            "update the NVIDIA driver on the Windows side (it provides NVML to WSL2)")
    return None


# --------------------------------------------------------------------------- probe


def probe(nvml: Any = None, root: str = "/") -> Probe:
    """Start NVML and list the NVIDIA GPUs; say plainly why not when it cannot.

    ``nvml`` replaces the ``pynvml`` module and ``root`` prefixes the driver's
    paths (tests). Never raises, never prints.
    """
    if nvml is None and "pynvml" not in sys.modules and _no_driver_on_linux(root):
        line = Availability("nvml", False, "no NVIDIA driver loaded (no /proc/driver/nvidia, no /dev/nvidiactl, "
                            "no WSL2 /dev/dxg with NVML)", FIX_DRIVER)
        return Probe([line], None, no_open)
    if nvml is None and (wsl := _preload_wsl_nvml(root)) is not None:
        return Probe([wsl], None, no_open)
    if nvml is None:
        try:
            import pynvml as nvml  # type: ignore[no-redef]  # noqa: PLC0415 - optional, imported when used
        except ImportError:
            detail = "nvidia-ml-py (pynvml) is not installed, so NVIDIA GPUs cannot be read"
            if _driver_present():
                detail += " (an NVIDIA driver is loaded on this machine)"
            return Probe([Availability("nvml", False, detail, FIX_INSTALL)], None, no_open)
    error_cls = getattr(nvml, "NVMLError", Exception)
    try:
        nvml.nvmlInit()
    except error_cls as exc:
        return Probe([_init_failure(nvml, exc)], None, no_open)
    except Exception as exc:  # a broken install must not break the host program
        line = Availability("nvml", False, f"NVML failed to start: {exc!r}", FIX_INSTALL)
        return Probe([line], None, no_open)

    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
    except Exception:
        driver = "unknown"
    lines: list[Availability] = []
    inventory: list[GpuIdentity] = []
    handles: dict[str, Any] = {}
    mig_handles: dict[str, list[Any]] = {}
    try:
        count = int(nvml.nvmlDeviceGetCount())
    except Exception as exc:
        _shutdown(nvml)
        return Probe([Availability("nvml", False, f"NVML could not count GPUs: {exc}")], None, no_open)
    for index in range(count):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            uuid = _text(nvml.nvmlDeviceGetUUID(handle))
            name = _text(nvml.nvmlDeviceGetName(handle))
        except Exception as exc:
            lines.append(
                Availability(f"nvml gpu{index}", False, f"GPU {index} cannot be read: {exc}")
            )
            continue
        mig = _mig_instances(nvml, handle)
        inventory.append(GpuIdentity(VENDOR, index, uuid, name, tuple(u for u, _ in mig)))
        handles[uuid] = handle
        mig_handles[uuid] = [h for _, h in mig]
    if not inventory:
        _shutdown(nvml)
        if not lines:
            lines.append(Availability("nvml", False, f"NVML (driver {driver}) found no NVIDIA GPU"))
        return Probe(lines, [], no_open)

    def open_selected(
        selected: list[Selected], notes: list[str]
    ) -> tuple[Sensor | None, list[Availability]]:
        return _open(nvml, driver, inventory, handles, mig_handles, selected, notes, lines)

    return Probe([], inventory, open_selected)


def _init_failure(nvml: Any, exc: BaseException) -> Availability:
    if _is(nvml, exc, "NVMLError_LibraryNotFound"):
        return Availability(
            "nvml",
            False,
            "NVIDIA driver library libnvidia-ml.so.1 not found: no NVIDIA driver on this machine",
            "install the NVIDIA driver (ignore this line on a machine without NVIDIA GPUs)",
        )
    if _is(nvml, exc, "NVMLError_DriverNotLoaded"):
        return Availability(
            "nvml", False, "the NVIDIA kernel driver is not loaded", "load it (nvidia-smi should work)"
        )
    if _is(nvml, exc, "NVMLError_NoPermission"):
        return Availability(
            "nvml", False, "no permission to open the NVIDIA devices", "check /dev/nvidia* access"
        )
    return Availability("nvml", False, f"NVML failed to start: {one_line(exc)}")


def _mig_instances(nvml: Any, handle: Any) -> list[tuple[str, Any]]:
    """(UUID, handle) of the MIG instances on a GPU in MIG mode (empty otherwise or when unknown)."""
    try:
        current, _pending = nvml.nvmlDeviceGetMigMode(handle)
        if int(current) != int(getattr(nvml, "NVML_DEVICE_MIG_ENABLE", 1)):
            return []
        slots = int(nvml.nvmlDeviceGetMaxMigDeviceCount(handle))
    except Exception:
        return []
    found = []
    for slot in range(slots):
        try:
            mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
            found.append((_text(nvml.nvmlDeviceGetUUID(mig)), mig))
        except Exception:  # NotFound: empty slot
            continue
    return found


def _shutdown(nvml: Any) -> None:
    try:
        nvml.nvmlShutdown()
    except Exception:
        pass


# --------------------------------------------------------------------------- open


def _averaged_power(nvml: Any, handle: Any, name: str) -> bool:
    """True when nvmlDeviceGetPowerUsage is a 1-s average (Ampere except GA100, and newer)."""
    try:
        arch = int(nvml.nvmlDeviceGetArchitecture(handle))
    except Exception:
        return True  # unknown: assume the less favourable case
    if arch == 0xFFFFFFFF:
        return True
    if arch < _ARCH_AMPERE:
        return False
    return not re.search(r"\ba(100|30)\b", normalise_name(name))  # GA100 parts: A100, A30


def _choose(
    nvml: Any, handle: Any, gpu: GpuIdentity
) -> tuple[Method | None, float, float, str]:
    """Pick the reading for one GPU: (method, band, tdp_w, how/why). Method None: unmeasurable."""
    try:
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        return Method.COUNTER, BAND_COUNTER, 0.0, "energy counter (nvmlDeviceGetTotalEnergyConsumption)"
    except Exception as exc:
        if not _is(nvml, exc, "NVMLError_NotSupported"):
            return None, 0.0, 0.0, f"energy counter failed: {one_line(exc)}"
    try:
        nvml.nvmlDeviceGetPowerUsage(handle)
        averaged = _averaged_power(nvml, handle, gpu.name)
        band = BAND_POWER_AVERAGED if averaged else BAND_POWER_INSTANT
        kind = "1-s averaged, partly sampled" if averaged else "instantaneous"
        return (
            Method.POWER_INTEGRATED,
            band,
            0.0,
            f"no energy counter; integrating nvmlDeviceGetPowerUsage ({kind} power)",
        )
    except Exception as exc:
        if not _is(nvml, exc, "NVMLError_NotSupported"):
            return None, 0.0, 0.0, f"power reading failed: {one_line(exc)}"
    try:
        nvml.nvmlDeviceGetUtilizationRates(handle)
    except Exception as exc:
        return None, 0.0, 0.0, f"no energy, power or utilisation reading ({_errname(exc)})"
    entry = lookup_tdp(gpu.name)
    if entry is not None:
        tdp, src = entry.tdp_w, f"table TDP {entry.tdp_w:g} W ({entry.model})"
    else:
        try:
            tdp = float(nvml.nvmlDeviceGetEnforcedPowerLimit(handle)) / 1000.0
            src = f"enforced power limit {tdp:g} W"
        except Exception:
            return (
                None,
                0.0,
                0.0,
                f"no energy or power reading, and '{gpu.name}' is not in the GPU table",
            )
    return Method.MODELLED, BAND_MODELLED, tdp, f"no energy or power reading; modelled from {src} × utilisation"


def _open(
    nvml: Any,
    driver: str,
    inventory: list[GpuIdentity],
    handles: dict[str, Any],
    mig_handles: dict[str, list[Any]],
    selected: list[Selected],
    notes: list[str],
    lines: list[Availability],
) -> tuple[Sensor | None, list[Availability]]:
    lines = list(lines)
    chosen = {s.gpu.uuid: s for s in selected}
    devices: list[GpuDevice] = []
    channels: list[Channel] = []
    for gpu in inventory:
        who = f"nvml gpu{gpu.index}"
        head = f"{gpu.name} {gpu.uuid}, driver {driver}"
        sel = chosen.get(gpu.uuid)
        if sel is None:
            lines.append(not_selected(who, head))
            continue
        handle = handles[gpu.uuid]
        method, band, tdp, how = _choose(nvml, handle, gpu)
        mig_note = ""
        if sel.via_mig:
            mig_note = (
                f"; MIG instance(s) {', '.join(sel.via_mig)} selected: NVML has no per-instance "
                "power, so the whole parent GPU is measured (includes other instances' work)"
            )
        elif gpu.mig:
            mig_note = "; MIG mode on: the whole GPU is measured, all instances together"
        if method is None:
            lines.append(Availability(who, False, f"{head}: not measurable, {how}{mig_note}"))
            continue
        ch = gpu_channel(gpu, method, band, f"{gpu.name} {gpu.uuid}: {how}{mig_note}")
        channels.append(ch)
        dev = GpuDevice(ch.name, handle, gpu, method, tdp_w=tdp, scale_j=1e-3)
        dev.sub_handles = mig_handles.get(gpu.uuid, [])
        devices.append(dev)
        lines.append(
            Availability(who, True, f"{head}: {method} (±{band:.0%}), {how}; chosen by {sel.reason}{mig_note}")
        )
    for note in notes:
        lines.append(Availability("gpu selection", True, f"note: {note}"))
    if not devices:
        _shutdown(nvml)
        return None, lines
    sensor = NvmlSensor(nvml, devices, channels)
    return sensor, lines


# --------------------------------------------------------------------------- sensor


class NvmlSensor(GpuSensorBase):
    """All selected NVIDIA GPUs, one ``gpu:<uuid>`` channel each.

    Build it with :func:`wattprint.sensors.gpu.selection.open_gpu_sensors` (or
    :func:`probe`); it owns one ``nvmlInit`` and releases it in :meth:`close`.
    """

    def __init__(self, nvml: Any, devices: list[GpuDevice], channels: list[Channel]) -> None:
        super().__init__("nvml", devices, channels)
        self._nvml = nvml
        self._error = getattr(nvml, "NVMLError", Exception)
        self._transient_cls = tuple(
            c for c in (getattr(nvml, n, None) for n in _TRANSIENT) if isinstance(c, type)
        )
        for dev in devices:  # the counter's origin is its value at open
            if dev.method is Method.COUNTER:
                try:
                    raw = float(nvml.nvmlDeviceGetTotalEnergyConsumption(dev.handle))
                    dev.origin = dev.last = raw
                except Exception:
                    pass  # the first read() decides whether the GPU is gone

    def read(self) -> dict[str, float]:
        """Channel → cumulative J since open (counter) or W now (power, modelled)."""
        nvml = self._nvml
        out: dict[str, float] = {}
        for dev in tuple(self.devices):
            try:
                if dev.method is Method.COUNTER:
                    raw = float(nvml.nvmlDeviceGetTotalEnergyConsumption(dev.handle))
                    out[dev.channel] = self._counter_joules(dev, raw)
                elif dev.method is Method.POWER_INTEGRATED:
                    out[dev.channel] = float(nvml.nvmlDeviceGetPowerUsage(dev.handle)) / 1000.0
                    dev.transient = 0
                else:
                    util = nvml.nvmlDeviceGetUtilizationRates(dev.handle)
                    out[dev.channel] = modelled_power_w(dev.tdp_w, float(util.gpu))
                    dev.transient = 0
            except Exception as exc:
                self._failed(dev, exc, bool(self._transient_cls) and isinstance(exc, self._transient_cls))
        return out

    def _process_table(self) -> dict[str, dict[int, int | None]]:
        """Channel → {pid: GPU memory bytes or None}, from compute and graphics contexts."""
        nvml = self._nvml
        out: dict[str, dict[int, int | None]] = {}
        for dev in tuple(self.devices):
            table: dict[int, int | None] = {}
            known = False
            calls = [
                (getattr(nvml, fn_name, None), handle)
                for handle in [dev.handle, *dev.sub_handles]  # in MIG mode, instances list their own
                for fn_name in (
                    "nvmlDeviceGetComputeRunningProcesses",
                    "nvmlDeviceGetGraphicsRunningProcesses",
                )
            ]
            for fn, handle in calls:
                if fn is None:
                    continue
                try:
                    procs = fn(handle)
                except Exception:
                    continue
                known = True
                for proc in procs or ():
                    pid = getattr(proc, "pid", None)
                    if not isinstance(pid, int) or pid <= 0:
                        continue
                    mem = getattr(proc, "usedGpuMemory", None)  # None on Windows WDDM
                    mem = mem if isinstance(mem, int) and mem >= 0 else None
                    prev = table.get(pid)  # a PID in both lists: the same memory, listed twice
                    table[pid] = mem if prev is None else max(prev, mem or 0)
            if known:
                out[dev.channel] = table
        return out

    def _release(self) -> None:
        _shutdown(self._nvml)
