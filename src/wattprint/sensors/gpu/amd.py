"""AMD GPUs through ``amdsmi`` (ROCm's AMD SMI Python bindings), one channel per GPU.

Per GPU, the best reading available:

1. ``amdsmi_get_energy_count`` → ``Kind.ENERGY``, ``Method.COUNTER``. The
   reply is a dict: the accumulator is ``energy_accumulator`` (amdsmi ≥ 6.2.1
   / ROCm 6.4) or ``power`` (older), times ``counter_resolution`` µJ per
   tick, plus a ``timestamp`` in ns. Older ROCm releases returned physically
   impossible values on some boards (ROCm/amdsmi#38), so the counter is only
   used after a plausibility check against the power reading; the counter is
   unwrapped at 2**32 ticks when it starts below that (older 32-bit firmware
   counters), which also bounds :attr:`Sensor.max_interval_s`.
2. otherwise ``amdsmi_get_power_info`` (W; ``socket_power`` in 7.x,
   ``current_socket_power`` / ``average_socket_power`` before, ``"N/A"`` when
   absent) → ``Kind.POWER``, ``Method.POWER_INTEGRATED``;
3. otherwise TDP (``hwdb/gpu_tdp.csv``) × ``gfx_activity`` → ``Method.MODELLED``
   as power.

Channels are ``gpu:<amdsmi UUID>`` (``gpu:<PCI BDF>`` when the UUID cannot be
read). ``amdsmi`` is imported in :func:`probe` only, and only after checking
that ROCm's ``libamd_smi.so`` loads: without it the package prints to stdout
and raises KeyError at import.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import time

from wattprint.sensors.base import Availability, Channel, Method, Sensor
from wattprint.sensors.gpu.common import (
    BAND_COUNTER,
    BAND_MODELLED,
    BAND_POWER_AVERAGED,
    GpuDevice,
    GpuIdentity,
    GpuSensorBase,
    Probe,
    Selected,
    gpu_channel,
    lookup_tdp,
    modelled_power_w,
    no_open,
    not_selected,
    one_line,
)

TYPE_CHECKING = False  # not from typing: importing it costs more than this module
if TYPE_CHECKING:
    from typing import Any

VENDOR = "amd"
FIX_INSTALL = "install ROCm (6.3 or newer) and pip install 'wattprint[amd]'"
WRAP_32 = float(2**32)
PLAUSIBLE_MAX_W = 3000.0  # no single accelerator board draws more; a counter implying it is broken
_POWER_KEYS = ("socket_power", "current_socket_power", "average_socket_power")
_TRANSIENT_WORDS = ("RETRY", "BUSY", "TIMEOUT", "INTERRUPT")


def _num(value: Any) -> float | None:
    """A usable number from an amdsmi field ("N/A", None and 0xFFFF mean absent)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value in (0xFFFF, 0xFFFFFFFF) or value < 0:
        return None
    return float(value)


def _energy_ticks(reply: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """(accumulator ticks, µJ per tick, timestamp ns) from amdsmi_get_energy_count."""
    acc = reply.get("energy_accumulator", reply.get("power"))
    return _num(acc), _num(reply.get("counter_resolution")), _num(reply.get("timestamp"))


def _power_w(reply: dict[str, Any]) -> float | None:
    """Board power in W from amdsmi_get_power_info: the first key present that is > 0."""
    values = [_num(reply.get(k)) for k in _POWER_KEYS]
    for v in values:
        if v is not None and v > 0:
            return v
    return next((v for v in values if v is not None), None)


# --------------------------------------------------------------------------- probe


def probe(amdsmi: Any = None, *, check_s: float = 0.2) -> Probe:
    """Start amdsmi and list the AMD GPUs; say why not when it cannot. Never raises.

    ``check_s`` is how long the energy-counter plausibility check waits between
    its two readings (0 in tests with a fake module).
    """
    if amdsmi is None:
        if importlib.util.find_spec("amdsmi") is None:
            detail = "amdsmi is not installed, so AMD GPUs cannot be read"
            if not os.path.exists("/dev/kfd"):
                detail += " (and no AMD GPU driver is loaded: /dev/kfd is absent)"
            return Probe([Availability("amdsmi", False, detail, FIX_INSTALL)], None, no_open)
        missing = _library_missing()
        if missing:  # importing amdsmi now would print to stdout and raise KeyError
            line = Availability("amdsmi", False, f"amdsmi is installed but {missing}", FIX_INSTALL)
            return Probe([line], None, no_open)
        try:
            import amdsmi  # type: ignore[no-redef]  # noqa: PLC0415 - optional, imported when used
        except Exception as exc:  # ImportError, or KeyError when libamd_smi.so is absent
            line = Availability(
                "amdsmi", False, f"amdsmi is installed but did not load ({one_line(exc)})", FIX_INSTALL
            )
            return Probe([line], None, no_open)
    try:
        amdsmi.amdsmi_init()
        handles = list(amdsmi.amdsmi_get_processor_handles())
    except Exception as exc:
        line = Availability("amdsmi", False, f"amdsmi could not start (no amdgpu driver?): {one_line(exc)}")
        _shutdown(amdsmi)
        return Probe([line], None, no_open)

    inventory: list[GpuIdentity] = []
    by_uuid: dict[str, tuple[Any, str]] = {}
    lines: list[Availability] = []
    for index, handle in enumerate(handles):
        bdf = _call(amdsmi, "amdsmi_get_gpu_device_bdf", handle) or ""
        uuid = _call(amdsmi, "amdsmi_get_gpu_device_uuid", handle) or bdf
        if not uuid:
            lines.append(Availability(f"amdsmi gpu{index}", False, f"GPU {index} has no UUID or BDF"))
            continue
        asic = _call(amdsmi, "amdsmi_get_gpu_asic_info", handle) or {}
        name = str(asic.get("market_name") or "AMD GPU")
        drv = _call(amdsmi, "amdsmi_get_gpu_driver_info", handle) or {}
        driver = f"{drv.get('driver_name', 'amdgpu')} {drv.get('driver_version', '?')}".strip()
        inventory.append(GpuIdentity(VENDOR, index, str(uuid), name, (), str(bdf)))
        by_uuid[str(uuid)] = (handle, driver)
    if not inventory:
        _shutdown(amdsmi)
        lines.append(Availability("amdsmi", False, "amdsmi found no AMD GPU"))
        return Probe(lines, [], no_open)

    def open_selected(
        selected: list[Selected], notes: list[str]
    ) -> tuple[Sensor | None, list[Availability]]:
        return _open(amdsmi, inventory, by_uuid, selected, notes, lines, check_s)

    return Probe([], inventory, open_selected)


def _library_missing() -> str:
    """Why ROCm's libamd_smi.so cannot be loaded ("" when it can).

    Tries the places the amdsmi package itself tries (ROCM_HOME/ROCM_PATH,
    the dynamic linker's path, /opt/rocm/lib), because when none works that
    package prints to stdout at import, which wattprint must never do.
    """
    spec = importlib.util.find_spec("amdsmi")
    here = os.path.dirname(spec.origin) if spec and spec.origin else ""
    rocm = os.getenv("ROCM_HOME", os.getenv("ROCM_PATH"))
    candidates = [os.path.join(rocm, "lib", "libamd_smi.so")] if rocm else []
    candidates += ["libamd_smi.so", os.path.join(here, "libamd_smi.so")]
    candidates.append(os.path.join(os.getenv("ROCM_PATH", "/opt/rocm"), "lib", "libamd_smi.so"))
    for path in candidates:
        try:
            ctypes.CDLL(path)
            return ""
        except OSError:
            continue
    return "ROCm's libamd_smi.so was not found (ROCM_PATH, linker path, /opt/rocm/lib)"


def _call(amdsmi: Any, fn_name: str, *args: Any) -> Any:
    fn = getattr(amdsmi, fn_name, None)
    if fn is None:
        return None
    try:
        return fn(*args)
    except Exception:
        return None


def _shutdown(amdsmi: Any) -> None:
    try:
        amdsmi.amdsmi_shut_down()
    except Exception:
        pass


# --------------------------------------------------------------------------- open


def _open(
    amdsmi: Any,
    inventory: list[GpuIdentity],
    by_uuid: dict[str, tuple[Any, str]],
    selected: list[Selected],
    notes: list[str],
    lines: list[Availability],
    check_s: float,
) -> tuple[Sensor | None, list[Availability]]:
    lines = list(lines)
    chosen = {s.gpu.uuid: s for s in selected}
    first: dict[str, tuple[float | None, float | None, float | None, float]] = {}
    for gpu in inventory:  # first counter readings, all GPUs, then one shared wait
        if gpu.uuid in chosen:
            reply = _call(amdsmi, "amdsmi_get_energy_count", by_uuid[gpu.uuid][0])
            if isinstance(reply, dict):
                first[gpu.uuid] = (*_energy_ticks(reply), time.monotonic())
    if first and check_s > 0:
        time.sleep(check_s)

    devices: list[GpuDevice] = []
    channels: list[Channel] = []
    max_interval: float | None = None
    for gpu in inventory:
        handle, driver = by_uuid[gpu.uuid]
        who = f"amdsmi gpu{gpu.index}"
        head = f"{gpu.name} {gpu.uuid}, driver {driver}"
        sel = chosen.get(gpu.uuid)
        if sel is None:
            lines.append(not_selected(who, head))
            continue
        method, how, tdp, scale = _choose(amdsmi, handle, gpu, first.get(gpu.uuid))
        if method is None:
            lines.append(Availability(who, False, f"{head}: not measurable, {how}"))
            continue
        band = {
            Method.COUNTER: BAND_COUNTER,
            Method.POWER_INTEGRATED: BAND_POWER_AVERAGED,
            Method.MODELLED: BAND_MODELLED,
        }[method]
        ch = gpu_channel(gpu, method, band, f"{gpu.name} {gpu.uuid}: {how}")
        channels.append(ch)
        dev = GpuDevice(ch.name, handle, gpu, method, tdp_w=tdp, scale_j=scale)
        if method is Method.COUNTER:
            ticks = first[gpu.uuid][0] or 0.0
            dev.origin = dev.last = ticks
            if ticks < WRAP_32:  # may be a 32-bit counter: read before it can wrap twice
                entry = lookup_tdp(gpu.name)
                top_w = 2.0 * (entry.tdp_w if entry is not None else 1000.0)
                limit = WRAP_32 * scale / top_w
                max_interval = limit if max_interval is None else min(max_interval, limit)
        devices.append(dev)
        lines.append(Availability(who, True, f"{head}: {method} (±{band:.0%}), {how}; chosen by {sel.reason}"))
    for note in notes:
        lines.append(Availability("gpu selection", True, f"note: {note}"))
    if not devices:
        _shutdown(amdsmi)
        return None, lines
    sensor = AmdSmiSensor(amdsmi, devices, channels)
    sensor.max_interval_s = max_interval
    return sensor, lines


def _choose(
    amdsmi: Any,
    handle: Any,
    gpu: GpuIdentity,
    first: tuple[float | None, float | None, float | None, float] | None,
) -> tuple[Method | None, str, float, float]:
    """(method, how/why, tdp_w, joules per counter tick) for one GPU."""
    power_reply = _call(amdsmi, "amdsmi_get_power_info", handle)
    power = _power_w(power_reply) if isinstance(power_reply, dict) else None
    why_not_counter = "no energy counter"
    if first is not None:
        ticks0, res_uj, ts0, mono0 = first
        reply = _call(amdsmi, "amdsmi_get_energy_count", handle)
        if ticks0 is not None and res_uj and isinstance(reply, dict):
            ticks1, _, ts1 = _energy_ticks(reply)
            if ts0 is not None and ts1 is not None and ts1 > ts0:
                dt = (ts1 - ts0) / 1e9
            else:
                dt = time.monotonic() - mono0
            if ticks1 is not None:
                implied = (ticks1 - ticks0) * res_uj * 1e-6 / dt if dt > 0 else None
                ok = implied is not None and 0.0 <= implied <= PLAUSIBLE_MAX_W
                if ok and power is not None and power > 50.0 and ticks1 == ticks0:
                    ok = False  # stuck counter while the board reports real power
                if ok:
                    how = f"energy counter (amdsmi_get_energy_count, {res_uj:g} µJ/tick)"
                    return Method.COUNTER, how, 0.0, res_uj * 1e-6
                why_not_counter = (
                    f"energy counter implausible ({implied:.0f} W over {dt:.2f} s)"
                    if implied is not None
                    else "energy counter did not advance in time"
                )
    if power is not None:
        return Method.POWER_INTEGRATED, f"{why_not_counter}; integrating amdsmi_get_power_info", 0.0, 1.0
    activity = _call(amdsmi, "amdsmi_get_gpu_activity", handle)
    util = _num(activity.get("gfx_activity")) if isinstance(activity, dict) else None
    entry = lookup_tdp(gpu.name)
    if util is None:
        return None, f"{why_not_counter}, no power and no activity reading", 0.0, 1.0
    if entry is None:
        return None, f"{why_not_counter}, no power reading, and '{gpu.name}' is not in the GPU table", 0.0, 1.0
    how = f"{why_not_counter}, no power reading; modelled from table TDP {entry.tdp_w:g} W × gfx activity"
    return Method.MODELLED, how, entry.tdp_w, 1.0


# --------------------------------------------------------------------------- sensor


class AmdSmiSensor(GpuSensorBase):
    """All selected AMD GPUs, one ``gpu:<uuid>`` channel each; owns one amdsmi_init."""

    def __init__(self, amdsmi: Any, devices: list[GpuDevice], channels: list[Channel]) -> None:
        super().__init__("amdsmi", devices, channels)
        self._amdsmi = amdsmi

    def read(self) -> dict[str, float]:
        """Channel → cumulative J since open (counter) or W now (power, modelled)."""
        lib = self._amdsmi
        out: dict[str, float] = {}
        for dev in tuple(self.devices):
            try:
                if dev.method is Method.COUNTER:
                    ticks, _, _ = _energy_ticks(lib.amdsmi_get_energy_count(dev.handle))
                    if ticks is None:
                        raise ValueError("energy counter returned N/A")
                    wrap = WRAP_32 if dev.last < WRAP_32 else None
                    out[dev.channel] = self._counter_joules(dev, ticks, wrap)
                elif dev.method is Method.POWER_INTEGRATED:
                    watts = _power_w(lib.amdsmi_get_power_info(dev.handle))
                    if watts is None:
                        raise ValueError("power reading returned N/A")
                    out[dev.channel] = watts
                    dev.transient = 0
                else:
                    util = _num(lib.amdsmi_get_gpu_activity(dev.handle).get("gfx_activity"))
                    if util is None:
                        raise ValueError("activity reading returned N/A")
                    out[dev.channel] = modelled_power_w(dev.tdp_w, util)
                    dev.transient = 0
            except Exception as exc:
                text = f"{type(exc).__name__} {exc}".upper()
                self._failed(dev, exc, isinstance(exc, ValueError) or any(w in text for w in _TRANSIENT_WORDS))
        return out

    def _process_table(self) -> dict[str, dict[int, int | None]]:
        """Channel → {pid: VRAM bytes or None} from amdsmi_get_gpu_process_list."""
        out: dict[str, dict[int, int | None]] = {}
        fn = getattr(self._amdsmi, "amdsmi_get_gpu_process_list", None)
        if fn is None:
            return out
        for dev in tuple(self.devices):
            try:
                procs = fn(dev.handle)
            except Exception:
                continue
            table: dict[int, int | None] = {}
            for proc in procs or ():
                if isinstance(proc, dict):
                    pid = proc.get("pid")
                    usage = proc.get("memory_usage")
                    mem = usage.get("vram_mem") if isinstance(usage, dict) else proc.get("mem")
                else:  # older amdsmi: bare process handles, which are the PIDs
                    pid, mem = getattr(proc, "pid", proc), None
                if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0:
                    table[pid] = mem if isinstance(mem, int) and mem >= 0 else None
            out[dev.channel] = table
        return out

    def _release(self) -> None:
        _shutdown(self._amdsmi)
