"""Fake NVML (pynvml) and amdsmi module objects: the boundary the GPU sensors read.

They mimic the real bindings' shapes: pynvml raises subclasses of ``NVMLError``
chosen by error code (``NVMLError_NotSupported``, ``NVMLError_GPUIsLost`` ...),
returns mJ / mW integers, ``str`` names and UUIDs, utilisation objects with
``.gpu``, process objects with ``.pid``; amdsmi returns dicts and raises
``AmdSmiLibraryException``. Each fake GPU's readings are plain attributes the
test moves forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

# ----------------------------------------------------------------------------- NVML


class NVMLError(Exception):
    """Base of the fake hierarchy, like pynvml.NVMLError (carries ``value``)."""

    value = 999

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)

    def __str__(self) -> str:
        return type(self).__name__.removeprefix("NVMLError_")


def _nvml_error(name: str, code: int) -> type[NVMLError]:
    return type(name, (NVMLError,), {"value": code})


NVML_ERRORS = {
    "NVMLError_Uninitialized": 1,
    "NVMLError_InvalidArgument": 2,
    "NVMLError_NotSupported": 3,
    "NVMLError_NoPermission": 4,
    "NVMLError_NotFound": 6,
    "NVMLError_DriverNotLoaded": 9,
    "NVMLError_Timeout": 10,
    "NVMLError_LibraryNotFound": 12,
    "NVMLError_GpuIsLost": 15,
    "NVMLError_Unknown": 999,
}
_NVML_CLASSES = {name: _nvml_error(name, code) for name, code in NVML_ERRORS.items()}


@dataclass
class FakeNvGpu:
    """One fake NVIDIA GPU. ``None`` for a reading means NVML says NotSupported."""

    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    energy_mj: int | None = 1_000_000
    power_mw: int | None = 300_000
    util_gpu: int | None = 50
    power_limit_mw: int | None = None
    limit_range_mw: tuple[int, int] | None = None  # (min, max) a limit may be set to; None: NotSupported
    default_limit_mw: int = 700_000
    set_error: str | None = None  # error class name raised by SetPowerManagementLimit
    limits_set: list[int] = field(default_factory=list)  # every limit set, in order
    arch: int = 9  # Hopper
    mig: list[str] = field(default_factory=list)  # MIG instance UUIDs (MIG mode on when any)
    compute_pids: list[int] | None = field(default_factory=list)  # None: NotSupported
    graphics_pids: list[int] | None = field(default_factory=list)
    lost: str | None = None  # error class name raised by every reading once set
    reads: int = 0
    mig_handles: dict[int, Any] = field(default_factory=dict)


@dataclass
class FakeMigHandle:
    parent: FakeNvGpu
    uuid: str
    compute_pids: list[int] | None = field(default_factory=list)
    graphics_pids: list[int] | None = field(default_factory=list)
    lost: str | None = None


class FakeNvml:
    """A module-like object with the pynvml functions the sensor calls."""

    NVML_DEVICE_MIG_ENABLE = 1
    NVMLError = NVMLError

    def __init__(
        self, gpus: list[FakeNvGpu], *, init_error: str | None = None, driver: str = "550.54.15"
    ) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.driver = driver
        self.inits = 0
        self.shutdowns = 0
        for name, cls in _NVML_CLASSES.items():
            setattr(self, name, cls)

    def _raise(self, name: str) -> None:
        raise _NVML_CLASSES[name]()

    def _check(self, gpu: Any) -> None:
        if gpu.lost:
            self._raise(gpu.lost)

    # library
    def nvmlInit(self) -> None:
        if self.init_error:
            self._raise(self.init_error)
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    # devices
    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeNvGpu:
        if not 0 <= index < len(self.gpus):
            self._raise("NVMLError_InvalidArgument")
        return self.gpus[index]

    def nvmlDeviceGetUUID(self, handle: Any) -> str:
        return handle.uuid

    def nvmlDeviceGetName(self, handle: FakeNvGpu) -> str:
        return handle.name

    def nvmlDeviceGetArchitecture(self, handle: FakeNvGpu) -> int:
        return handle.arch

    def nvmlDeviceGetMigMode(self, handle: FakeNvGpu) -> list[int]:
        return [1 if handle.mig else 0, 1 if handle.mig else 0]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: FakeNvGpu) -> int:
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: FakeNvGpu, index: int) -> FakeMigHandle:
        if index >= len(handle.mig):
            self._raise("NVMLError_NotFound")
        mig = handle.mig_handles.get(index)
        if mig is None:
            mig = handle.mig_handles[index] = FakeMigHandle(handle, handle.mig[index])
        return mig

    # readings
    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeNvGpu) -> int:
        self._check(handle)
        handle.reads += 1
        if handle.energy_mj is None:
            self._raise("NVMLError_NotSupported")
        return handle.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle: FakeNvGpu) -> int:
        self._check(handle)
        handle.reads += 1
        if handle.power_mw is None:
            self._raise("NVMLError_NotSupported")
        return handle.power_mw

    def nvmlDeviceGetUtilizationRates(self, handle: FakeNvGpu) -> SimpleNamespace:
        self._check(handle)
        handle.reads += 1
        if handle.util_gpu is None:
            self._raise("NVMLError_NotSupported")
        return SimpleNamespace(gpu=handle.util_gpu, memory=10)

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: FakeNvGpu) -> int:
        if handle.power_limit_mw is None:
            self._raise("NVMLError_NotSupported")
        return handle.power_limit_mw

    def nvmlDeviceGetPowerManagementLimit(self, handle: FakeNvGpu) -> int:
        if handle.power_limit_mw is None:
            self._raise("NVMLError_NotSupported")
        return handle.power_limit_mw

    def nvmlDeviceGetPowerManagementLimitConstraints(self, handle: FakeNvGpu) -> list[int]:
        if handle.limit_range_mw is None:
            self._raise("NVMLError_NotSupported")
        return list(handle.limit_range_mw)

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle: FakeNvGpu) -> int:
        return handle.default_limit_mw

    def nvmlDeviceSetPowerManagementLimit(self, handle: FakeNvGpu, limit_mw: int) -> None:
        if handle.set_error:
            self._raise(handle.set_error)
        lo, hi = handle.limit_range_mw or (0, 0)
        if not lo <= limit_mw <= hi:
            self._raise("NVMLError_InvalidArgument")
        handle.power_limit_mw = limit_mw
        handle.limits_set.append(limit_mw)

    def _procs(self, pids: list[int] | None) -> list[SimpleNamespace]:
        if pids is None:
            self._raise("NVMLError_NotSupported")
        return [SimpleNamespace(pid=p, usedGpuMemory=1 << 20) for p in pids or []]

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[SimpleNamespace]:
        self._check(handle)
        return self._procs(handle.compute_pids)

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: Any) -> list[SimpleNamespace]:
        self._check(handle)
        return self._procs(handle.graphics_pids)


def nv_uuid(n: int) -> str:
    """A UUID in NVML's printed form, distinct per ``n``."""
    return f"GPU-{n:08x}-1111-2222-3333-{n:012x}"


# ----------------------------------------------------------------------------- amdsmi


class AmdSmiException(Exception):
    """Base class, like amdsmi.AmdSmiException."""


class AmdSmiLibraryException(AmdSmiException):
    """Like amdsmi's: carries an error code; the message names the status."""

    def __init__(self, err_code: int, info: str = "AMDSMI_STATUS_NOT_SUPPORTED") -> None:
        super().__init__(err_code)
        self.err_code = err_code
        self.err_info = info

    def get_error_code(self) -> int:
        return self.err_code

    def __str__(self) -> str:
        return f"Error code:\n\t{self.err_code} | {self.err_info}"


NOT_SUPPORTED = AmdSmiLibraryException(2, "AMDSMI_STATUS_NOT_SUPPORTED - Feature not supported")


@dataclass
class FakeAmdGpu:
    """One fake AMD GPU; ``None`` readings raise NOT_SUPPORTED."""

    uuid: str
    bdf: str = "0000:0c:00.0"
    name: str = "AMD Instinct MI300X"
    ticks: int | None = 1_000_000  # energy accumulator
    resolution_uj: float = 15.259
    old_api: bool = False  # amdsmi < 6.2.1 calls the accumulator "power"
    step_ticks: int = 0  # added to ticks on every energy read (keeps the counter moving)
    power: dict[str, Any] | None = field(
        default_factory=lambda: {"socket_power": 400, "current_socket_power": "N/A"}
    )
    gfx_activity: Any = 40
    pids: list[Any] | None = field(default_factory=list)
    lost: bool = False
    ts_ns: int = 10**12


class FakeAmdSmi:
    """A module-like object with the amdsmi functions the sensor calls."""

    AmdSmiException = AmdSmiException
    AmdSmiLibraryException = AmdSmiLibraryException

    def __init__(self, gpus: list[FakeAmdGpu], *, init_error: bool = False) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.inits = 0
        self.shutdowns = 0

    def _check(self, gpu: FakeAmdGpu) -> None:
        if gpu.lost:
            raise AmdSmiLibraryException(31, "AMDSMI_STATUS_NOT_FOUND - Device Not found")

    def amdsmi_init(self, flag: int = 2) -> None:
        if self.init_error:
            raise AmdSmiLibraryException(34, "AMDSMI_STATUS_INIT_ERROR - Initialization error")
        self.inits += 1

    def amdsmi_shut_down(self) -> None:
        self.shutdowns += 1

    def amdsmi_get_processor_handles(self) -> list[FakeAmdGpu]:
        return list(self.gpus)

    def amdsmi_get_gpu_device_uuid(self, h: FakeAmdGpu) -> str:
        return h.uuid

    def amdsmi_get_gpu_device_bdf(self, h: FakeAmdGpu) -> str:
        return h.bdf

    def amdsmi_get_gpu_asic_info(self, h: FakeAmdGpu) -> dict[str, Any]:
        return {"market_name": h.name, "vendor_id": 0x1002}

    def amdsmi_get_gpu_driver_info(self, h: FakeAmdGpu) -> dict[str, str]:
        return {"driver_name": "amdgpu", "driver_version": "6.8.5", "driver_date": "N/A"}

    def amdsmi_get_energy_count(self, h: FakeAmdGpu) -> dict[str, Any]:
        self._check(h)
        if h.ticks is None:
            raise NOT_SUPPORTED
        h.ticks += h.step_ticks
        h.ts_ns += 10**8
        key = "power" if h.old_api else "energy_accumulator"
        return {key: h.ticks, "counter_resolution": h.resolution_uj, "timestamp": h.ts_ns}

    def amdsmi_get_power_info(self, h: FakeAmdGpu) -> dict[str, Any]:
        self._check(h)
        if h.power is None:
            raise NOT_SUPPORTED
        return dict(h.power)

    def amdsmi_get_gpu_activity(self, h: FakeAmdGpu) -> dict[str, Any]:
        self._check(h)
        return {"gfx_activity": h.gfx_activity, "umc_activity": 0, "mm_activity": "N/A"}

    def amdsmi_get_gpu_process_list(self, h: FakeAmdGpu) -> list[Any]:
        self._check(h)
        if h.pids is None:
            raise NOT_SUPPORTED
        return list(h.pids)
