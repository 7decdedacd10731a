"""Choose the CPU and memory sensors for this host: RAPL where it works, the model elsewhere.

This is the one entry point the sampler and ``wattprint doctor`` use for the
CPU side; every decision it takes is returned as an :class:`Availability` line
so that no fallback is silent.
"""

from __future__ import annotations

from pathlib import Path

from wattprint.sensors.base import Availability, Sensor, SensorError

__all__ = ["open_cpu_sensors"]


def open_cpu_sensors(
    rapl_root: str | Path | None = None,
    *,
    model_fallback: bool = True,
    tdp_w: float | None = None,
    rapl: bool = True,
) -> tuple[list[Sensor], list[Availability]]:
    """Open the CPU/DRAM/RAM sensors; return them and one doctor line per decision.

    * RAPL (``rapl_root``, default ``/sys/class/powercap``) when its package
      counters can be read: channels ``cpu:package-N`` (+ ``dram:package-N``,
      ``psys``).
    * Otherwise the modelled ``cpu:model`` channel (TDP × load curve), with a
      line giving RAPL's error and fix, and which TDP was used.
    * The modelled ``ram`` channel whenever RAPL gives no DRAM counter (RAPL
      DRAM, when present, measures the same memory and replaces the model).

    ``model_fallback=False`` opens no modelled channel at all (measured figures
    only); the lines then say what goes uncounted. ``tdp_w`` overrides the CPU
    table (watts for all sockets together). ``rapl=False`` skips RAPL (the
    model alone, when the user chose it). Never raises for a missing or
    unreadable sensor; a bad ``tdp_w`` raises :class:`SensorError`.
    """
    sensors: list[Sensor] = []
    lines: list[Availability] = []
    counters = _open_rapl(rapl_root, lines) if rapl else None
    if not rapl:
        lines.append(Availability("rapl", False, "not chosen: CPU and memory modelled"))
    if counters is not None:
        sensors.append(counters)

    has_cpu = counters is not None
    has_dram = counters is not None and any(c.component == "dram" for c in counters.channels)
    if has_dram:
        lines.append(
            Availability("model ram", False, "memory measured by RAPL DRAM: RAM model not used")
        )
    if has_cpu and tdp_w is not None:
        lines.append(
            Availability("model cpu:model", False, f"TDP {tdp_w:g} W not used: RAPL measures the CPU")
        )
    if has_cpu and has_dram:
        return sensors, lines

    if not model_fallback:
        if not has_cpu:
            lines.append(
                Availability("model cpu:model", False, "model not chosen (measured figures only): CPU not counted")
            )
        lines.append(
            Availability("model ram", False, "model not chosen (measured figures only): memory not counted")
        )
        return sensors, lines

    from wattprint.sensors.cpu.model import ModelSensor

    try:
        model = ModelSensor(cpu=not has_cpu, ram=not has_dram, tdp_w=tdp_w)
    except SensorError:
        raise  # bad user input (tdp_w): the caller reports it
    except Exception as exc:  # psutil broken or missing: say so, keep what we have
        lines.append(Availability("model", False, f"model sensor unavailable: {exc}"))
        return sensors, lines
    sensors.append(model)
    lines += model.describe()
    return sensors, lines


def _open_rapl(rapl_root: str | Path | None, lines: list[Availability]) -> Sensor | None:
    """The RAPL sensor and its doctor lines, or None with the line saying why and how to fix it."""
    from wattprint.sensors.cpu.rapl import DEFAULT_ROOT, RaplSensor

    try:
        sensor = RaplSensor(DEFAULT_ROOT if rapl_root is None else rapl_root)
    except SensorError as exc:
        lines.append(Availability("rapl", False, str(exc), exc.fix))
        return None
    lines += sensor.describe()
    return sensor
