"""NVIDIA GPU power limits through NVML: read, set and restore them, and read the energy counter.

The one place wattprint changes hardware settings (``wattprint tune-power``).
Setting a limit needs root (NVML answers ``NoPermission`` otherwise) and a
board that allows it (``NotSupported`` on many consumer and laptop GPUs); each
case gets a line saying exactly that and what to do.

Before the first change the original limits are written to a journal file, and
removed once they are back. A tuning process that dies mid-sweep (SIGKILL, a
crash, a power cut of the node's shell) leaves the journal behind, and the next
``tune-power`` (or ``tune-power --restore``) puts those limits back first.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from wattprint.errors import SensorError
from wattprint.sensors.gpu.nvml import _errname, _text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FIX_PERMISSION = (
    "setting GPU power limits needs root: run 'sudo wattprint tune-power ...' (or as a user with "
    "CAP_SYS_ADMIN); on a shared cluster ask the administrators, as the limit applies to every job on the GPU"
)


class Gpu:
    """One GPU under control: its handle, UUID and the limits NVML allows (W)."""

    __slots__ = ("handle", "uuid", "name", "min_w", "max_w", "default_w", "original_w")

    def __init__(self, handle: Any, uuid: str, name: str, min_w: float, max_w: float, default_w: float,
                 original_w: float) -> None:
        self.handle = handle
        self.uuid = uuid
        self.name = name
        self.min_w = min_w
        self.max_w = max_w
        self.default_w = default_w
        self.original_w = original_w


def journal_path() -> Path:
    """Where the original limits wait while a sweep runs (beside the database)."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "wattprint" / "power-limits.json"


class PowerLimits:
    """The chosen GPUs' power limits. ``nvml`` replaces the ``pynvml`` module (tests)."""

    def __init__(self, nvml: Any = None, indices: list[int] | None = None, journal: Path | None = None) -> None:
        if nvml is None:
            try:
                import pynvml as nvml  # type: ignore[no-redef]  # noqa: PLC0415 - optional, imported when used
            except ImportError:
                raise SensorError("tune-power needs NVML: pip install nvidia-ml-py (and an NVIDIA driver)") from None
        self.nvml = nvml
        self.journal = journal or journal_path()
        self.changed = False  # a limit was set to another value than the original
        try:
            nvml.nvmlInit()
        except Exception as exc:
            raise SensorError(f"NVML did not start ({_errname(exc)}): is the NVIDIA driver loaded?") from None
        try:
            count = int(nvml.nvmlDeviceGetCount())
            chosen = list(range(count)) if indices is None else indices
            if not chosen or any(not 0 <= i < count for i in chosen):
                raise SensorError(f"GPUs {chosen} not found: this machine has {count} (indices 0-{count - 1})")
            self.gpus = [self._gpu(nvml.nvmlDeviceGetHandleByIndex(i)) for i in chosen]
        except BaseException:
            self.close()
            raise

    def _gpu(self, handle: Any) -> Gpu:
        nv = self.nvml
        uuid, name = _text(nv.nvmlDeviceGetUUID(handle)), _text(nv.nvmlDeviceGetName(handle))
        try:
            lo, hi = nv.nvmlDeviceGetPowerManagementLimitConstraints(handle)
            default = nv.nvmlDeviceGetPowerManagementDefaultLimit(handle)
            current = nv.nvmlDeviceGetPowerManagementLimit(handle)
        except Exception as exc:
            raise SensorError(f"{name} ({uuid}) does not report its power limits ({_errname(exc)}): "
                              "this board's limit cannot be tuned") from None
        try:
            nv.nvmlDeviceGetTotalEnergyConsumption(handle)
        except Exception as exc:
            raise SensorError(f"{name} ({uuid}) has no energy counter ({_errname(exc)}; it needs a Volta or newer "
                              "GPU): tune-power measures energy per step with it") from None
        return Gpu(handle, uuid, name, lo / 1000, hi / 1000, default / 1000, current / 1000)

    # -- limits --

    def check_permission(self) -> None:
        """Set each GPU's limit to what it is: NoPermission / NotSupported say so before any work."""
        for g in self.gpus:
            self._set(g, g.original_w)

    def _set(self, g: Gpu, watts: float) -> None:
        try:
            self.nvml.nvmlDeviceSetPowerManagementLimit(g.handle, round(watts * 1000))
        except Exception as exc:
            reason = _errname(exc)
            if "NoPermission" in reason:
                raise SensorError(f"cannot set the power limit of {g.name}: no permission; {FIX_PERMISSION}") from None
            if "NotSupported" in reason:
                raise SensorError(f"{g.name} does not allow its power limit to be set (NVML: NotSupported)") from None
            raise SensorError(f"setting the power limit of {g.name} to {watts:g} W failed: {reason}") from None

    def set_all(self, watts: float) -> None:
        """Every chosen GPU to ``watts`` (clamped to each board's range), journal first."""
        self._write_journal()
        self.changed = True
        for g in self.gpus:
            self._set(g, min(max(watts, g.min_w), g.max_w))

    def restore(self) -> list[str]:
        """Put the original limits back; returns one line per GPU that could not be restored."""
        if not self.changed:
            return []
        failed = []
        for g in self.gpus:
            try:
                self._set(g, g.original_w)
            except SensorError as exc:
                failed.append(str(exc))
        if not failed:
            self.journal.unlink(missing_ok=True)
            self.changed = False
        return failed

    def _write_journal(self) -> None:
        if self.journal.exists():
            return  # written before the first change of this sweep (or left by a crashed one: kept as is)
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.journal.with_suffix(".tmp")
        tmp.write_text(json.dumps({g.uuid: g.original_w for g in self.gpus}))
        os.replace(tmp, self.journal)

    def restore_journal(self) -> list[str]:
        """Limits a crashed sweep left changed, put back from the journal; one line per GPU restored."""
        try:
            saved = json.loads(self.journal.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise SensorError(f"power-limit journal {self.journal} cannot be read ({exc}); "
                              "reset the limits with 'nvidia-smi -pl' and delete it") from None
        done = []
        for g in self.gpus:
            if g.uuid in saved:
                watts = float(saved[g.uuid])
                self._set(g, watts)
                g.original_w = watts
                done.append(f"{g.name} ({g.uuid}): limit restored to {watts:g} W, left changed by an earlier sweep")
        self.journal.unlink(missing_ok=True)
        return done

    # -- readings --

    def energy_j(self) -> float:
        """The chosen GPUs' energy counters summed (J); differences give a step's energy."""
        return sum(self.nvml.nvmlDeviceGetTotalEnergyConsumption(g.handle) for g in self.gpus) / 1000

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:  # noqa: S110 - best effort on the way out
            pass
