"""Open every sensor this host offers: CPU/DRAM (RAPL or model), RAM, GPUs."""

from __future__ import annotations

from pathlib import Path

from wattprint.sensors.base import Availability, Sensor


def open_sensors(
    *, rapl_root: str | Path | None = None, gpus: str | None = None
) -> tuple[list[Sensor], list[Availability]]:
    """Return the sensors to read and one doctor line per decision taken.

    ``rapl_root`` points RAPL at another powercap tree (tests, benchmarks);
    ``gpus`` is ``None`` (the GPUs the work can see, per CUDA_VISIBLE_DEVICES),
    ``"all"``, ``"none"``, or a comma list of indices/UUIDs.
    """
    from wattprint.sensors.cpu.choice import open_cpu_sensors

    sensors, lines = open_cpu_sensors(rapl_root)
    if gpus is None or gpus.strip().lower() != "none":
        try:
            from wattprint.sensors.gpu.selection import open_gpu_sensors
        except ImportError as exc:  # the GPU layer itself is optional at this stage
            lines.append(Availability("gpu", False, f"GPU support not importable: {exc}"))
        else:
            gpu_sensors, gpu_lines = open_gpu_sensors(gpus)
            sensors += gpu_sensors
            lines += gpu_lines
    return sensors, lines
