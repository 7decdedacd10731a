"""A stand-in ``pynvml`` for CLI subprocess tests of ``wattprint tune-power``.

Put this directory on PYTHONPATH and name a JSON state file in ``FAKE_NVML_STATE``:
``{"limit_mw", "range_mw": [lo, hi], "default_mw", "static_w", "set_error", "t", "energy_mj"}``.
One GPU. Its energy counter grows at ``static_w + limit`` watts of real time (``time.time()``),
so a workload process that runs longer at a lower limit costs what the model says. Setting a
limit writes the state file, so every process (the CLI, the workload, the test) sees it.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any


class NVMLError(Exception):
    pass


class NVMLError_NoPermission(NVMLError):  # noqa: N801 - pynvml's names
    pass


class NVMLError_NotSupported(NVMLError):  # noqa: N801
    pass


class NVMLError_InvalidArgument(NVMLError):  # noqa: N801
    pass


def _path() -> str:
    return os.environ["FAKE_NVML_STATE"]


def _state() -> dict[str, Any]:
    with open(_path()) as fh:
        return json.load(fh)


def _energy_mj(s: dict[str, Any], now: float) -> int:
    return round(s["energy_mj"] + (s["static_w"] + s["limit_mw"] / 1000) * (now - s["t"]) * 1000)


def nvmlInit() -> None:  # noqa: N802
    _state()


def nvmlShutdown() -> None:  # noqa: N802
    pass


def nvmlDeviceGetCount() -> int:  # noqa: N802
    return 1


def nvmlDeviceGetHandleByIndex(index: int) -> int:  # noqa: N802
    if index != 0:
        raise NVMLError_InvalidArgument()
    return 0


def nvmlDeviceGetUUID(handle: int) -> str:  # noqa: N802
    return "GPU-00000000-1111-2222-3333-000000000000"


def nvmlDeviceGetName(handle: int) -> str:  # noqa: N802
    return "NVIDIA H100 80GB HBM3"


def nvmlDeviceGetPowerManagementLimitConstraints(handle: int) -> list[int]:  # noqa: N802
    return list(_state()["range_mw"])


def nvmlDeviceGetPowerManagementDefaultLimit(handle: int) -> int:  # noqa: N802
    return int(_state()["default_mw"])


def nvmlDeviceGetPowerManagementLimit(handle: int) -> int:  # noqa: N802
    return int(_state()["limit_mw"])


def nvmlDeviceGetTotalEnergyConsumption(handle: int) -> int:  # noqa: N802
    return _energy_mj(_state(), time.time())


def nvmlDeviceSetPowerManagementLimit(handle: int, limit_mw: int) -> None:  # noqa: N802
    s = _state()
    if s.get("set_error"):
        raise globals()[s["set_error"]]()
    lo, hi = s["range_mw"]
    if not lo <= limit_mw <= hi:
        raise NVMLError_InvalidArgument()
    now = time.time()
    s["energy_mj"], s["t"], s["limit_mw"] = _energy_mj(s, now), now, limit_mw
    s.setdefault("history", []).append(limit_mw)
    tmp = _path() + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(s, fh)
    os.replace(tmp, _path())
