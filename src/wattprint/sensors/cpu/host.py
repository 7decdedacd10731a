"""What CPU this host has: vendor, model name, threads, sockets, and whether it is a VM.

One reading of the platform shared by the CPU sensors: RAPL needs the vendor
(AMD's package counter is modelled, so its band is wider), the model needs the
model name, thread and socket counts and the VM flag (to match the TDP table).

Standard library only.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from wattprint._record import FrozenRecord

__all__ = ["CpuInfo", "detect_cpu"]

# /proc/cpuinfo vendor_id values -> our vendor names (Hygon Dhyana is a licensed Zen)
_VENDORS = {"GenuineIntel": "intel", "AuthenticAMD": "amd", "HygonGenuine": "amd"}


class CpuInfo(FrozenRecord):
    """What the sensors need to know about the host CPU.

    ``model_name`` is the vendor string ("AMD EPYC 7763 64-Core Processor") or
    ``None`` when the platform does not say; ``logical_cpus`` counts hardware
    threads visible to the OS; ``sockets`` counts physical packages (1 when
    unknown); ``virtual`` is True when a hypervisor is detected; ``vendor`` is
    ``"intel"``, ``"amd"`` or None (unknown, or not x86).
    """

    __slots__ = ("model_name", "logical_cpus", "sockets", "virtual", "vendor")
    model_name: str | None
    logical_cpus: int
    sockets: int
    virtual: bool
    vendor: str | None

    def __init__(
        self,
        model_name: str | None,
        logical_cpus: int,
        sockets: int = 1,
        virtual: bool = False,
        vendor: str | None = None,
    ) -> None:
        super().__init__(model_name, logical_cpus, sockets, virtual, vendor)


def detect_cpu(cpuinfo: str | Path = "/proc/cpuinfo") -> CpuInfo:
    """Read the CPU model, vendor, thread and socket counts, and VM flag from the platform.

    Linux: /proc/cpuinfo ("model name", "vendor_id", "physical id", the
    "hypervisor" flag). macOS: ``sysctl -n machdep.cpu.brand_string``.
    Windows: the registry's ``ProcessorNameString``. Elsewhere
    ``platform.processor()``. Never raises.
    """
    logical = os.cpu_count() or 1
    path = Path(cpuinfo)
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        m = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        sockets = len(set(re.findall(r"^physical id\s*:\s*(\d+)", text, re.MULTILINE))) or 1
        flags = re.search(r"^flags\s*:\s*(.*)$", text, re.MULTILINE)
        virtual = bool(flags and "hypervisor" in flags.group(1).split())
        vendor = re.search(r"^vendor_id\s*:\s*(\S+)", text, re.MULTILINE)
        name = m.group(1).strip() if m else None
        return CpuInfo(name or None, logical, sockets, virtual, _VENDORS.get(vendor.group(1)) if vendor else None)
    return CpuInfo(_platform_cpu_name(), logical, 1, False)


def _platform_cpu_name() -> str | None:
    if sys.platform == "darwin":
        import subprocess

        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True, text=True, timeout=5, check=False,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        return out or None
    if sys.platform == "win32":
        try:
            import winreg

            key = winreg.OpenKey(  # type: ignore[attr-defined]
                winreg.HKEY_LOCAL_MACHINE,  # type: ignore[attr-defined]
                r"HARDWARE\DESCRIPTION\System\CentralProcessor\0",
            )
            value, _ = winreg.QueryValueEx(key, "ProcessorNameString")  # type: ignore[attr-defined]
            return str(value).strip() or None
        except OSError:
            return None
    import platform

    return platform.processor() or None
