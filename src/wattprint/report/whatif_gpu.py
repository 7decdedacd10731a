"""What-if on another GPU model: a stored run's time and energy, *modelled* for other GPUs.

Nothing here is measured: the run's measured GPU energy and duration are carried over to
another GPU with two published figures per model, its board power (``hwdb/gpu_tdp.csv``)
and its peak dense throughput at the run's precision (``hwdb/gpu_models.csv``), both
from the vendors' datasheets (``hwdb/SOURCES.md``). The method (docs/foresight.md):

- ``p = P / TDP_src``: the run's mean GPU power ``P`` (energy ÷ duration, per GPU) as a
  share of its own GPU's board power; ``u = (p - idle) / (1 - idle)`` (0 to 1) is the share
  of the run the GPU was busy, by the same linear model the modelled GPU sensor uses
  (idle share 0.11 of TDP, :data:`~wattprint.sensors.gpu.common.IDLE_FRACTION`);
- ``r = peak_src / peak_dst`` at the run's precision: the busy part takes ``r`` times as long,
  the rest (input, host, communication) as long as it did:
  ``T_new = T × (1 - u + u × r)`` (Amdahl's law, with ``u`` the GPU-bound share);
- each GPU draws its idle power all the time and its dynamic power while busy:
  ``E_gpu_new = TDP_dst × (idle × T_new + (1 - idle) × u × T × r)``; on the run's own GPU
  model (``r = 1``) this gives back the measured energy exactly;
- the run's other channels (CPU, DRAM, ...) keep their mean power: ``E_rest × T_new / T``;
  emissions are the new energy at the run's own gCO2e per joule.

Peak ratios are not workload ratios (memory-bound kernels, communication and the software
stack do not scale with peak TFLOPS), so every row carries a wide band, stated as such:
time and energy ×0.5 to ×2 (:data:`BAND`). Standard library only.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from wattprint._record import FrozenRecord
from wattprint.errors import ReportError
from wattprint.sensors.gpu.common import IDLE_FRACTION, lookup_tdp, normalise_name

PRECISIONS = ("bf16", "fp16", "tf32", "fp32")  # the first is the default (training in BF16 tensor)
BAND = (0.5, 2.0)  # the modelled figures' range, as factors of the central estimate
TABLE = Path(__file__).resolve().parents[1] / "sensors" / "hwdb" / "gpu_models.csv"


class GpuModel(FrozenRecord):
    """One GPU model: board power (W), peak dense TFLOPS per precision (None: no figure), sources."""

    __slots__ = ("model", "tdp_w", "tflops", "source", "tdp_source")
    model: str
    tdp_w: float
    tflops: Mapping[str, float | None]
    source: str
    tdp_source: str

    def __init__(self, model: str, tdp_w: float, tflops: Mapping[str, float | None], source: str,
                 tdp_source: str) -> None:
        super().__init__(model, tdp_w, tflops, source, tdp_source)


@lru_cache(maxsize=1)
def gpu_models() -> tuple[GpuModel, ...]:
    """The throughput table joined with the board power table (read once)."""
    out = []
    with TABLE.open("r", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(line for line in fh if not line.startswith("#")):
            tdp = lookup_tdp(row["model"])
            if tdp is None or tdp.model != row["model"]:
                raise ReportError(f"{TABLE.name}: {row['model']!r} has no row of its own in gpu_tdp.csv")
            tflops = {p: float(row[p]) if row[p] else None for p in PRECISIONS}
            out.append(GpuModel(row["model"], tdp.tdp_w, tflops, row["source"], tdp.source))
    return tuple(out)


def find_model(name: str) -> GpuModel | None:
    """The table's row for a model name as a user writes it (``H100-SXM``) or as the run
    recorded it (``NVIDIA A100-SXM4-80GB``, matched as the board power table matches it)."""
    key = normalise_name(name)
    models = gpu_models()
    for m in models:
        if normalise_name(m.model) == key:
            return m
    tdp = lookup_tdp(name)
    return next((m for m in models if tdp is not None and m.model == tdp.model), None)


def _source_gpu(run: Mapping[str, Any]) -> tuple[GpuModel, list[Mapping[str, Any]]]:
    gpus = [c for c in (run.get("channels") or {}).values() if c.get("component") == "gpu" and c.get("in_total")]
    if not gpus or float(run.get("duration_s") or 0.0) <= 0:
        raise ReportError(f"run {str(run.get('id', ''))[:8]} measured no GPU energy: nothing to carry to another GPU")
    names = sorted(set(run.get("gpu_models") or []))
    if len(names) != 1:
        raise ReportError(f"run {str(run.get('id', ''))[:8]} recorded GPU models {names or 'none'}; "
                          "a what-if on another GPU needs exactly one")
    src = find_model(names[0])
    if src is None:
        raise ReportError(f"the run's GPU {names[0]!r} is not in the throughput table "
                          f"({', '.join(m.model for m in gpu_models())})")
    return src, gpus


def busy_share(power_w: float, tdp_w: float) -> float:
    """The share of the time a GPU was busy, from its mean power (the linear idle-to-TDP model)."""
    p = min(1.0, power_w / tdp_w) if tdp_w > 0 else 1.0
    return min(1.0, max(0.0, (p - IDLE_FRACTION) / (1.0 - IDLE_FRACTION)))


def gpu_whatif(run: Mapping[str, Any], targets: list[GpuModel], precision: str = PRECISIONS[0]
               ) -> list[dict[str, Any]]:
    """One row per target GPU model (see the module docstring), the run's own model first as
    a check (its figures are the measured ones). :class:`ReportError` when the run cannot be
    carried over (no GPU energy, several or unknown GPU models, an unknown precision)."""
    if precision not in PRECISIONS:
        raise ReportError(f"precision {precision!r}: one of {', '.join(PRECISIONS)}")
    src, gpus = _source_gpu(run)
    t = float(run["duration_s"])
    gpu_j = sum(float(c["energy_j"]) for c in gpus)
    rest_j = max(0.0, float(run.get("energy_j") or 0.0) - gpu_j)
    grams = run.get("emissions_g")
    measured_g = float(grams) if grams is not None and grams == grams else None  # NaN: not priced
    total_j = float(run.get("energy_j") or 0.0)
    g_per_j = measured_g / total_j if measured_g is not None and total_j > 0 else None
    shares = [busy_share(float(c["energy_j"]) / t, src.tdp_w) for c in gpus]
    u = sum(shares) / len(shares)  # the GPUs of one run work in step: their mean busy share sets the time
    rows = []
    for dst in [src, *(m for m in targets if m.model != src.model)]:
        peak_src, peak_dst = src.tflops[precision], dst.tflops[precision]
        row: dict[str, Any] = {"gpu": dst.model, "precision": precision, "tdp_w": dst.tdp_w,
                               "tflops": peak_dst, "source": dst.source, "tdp_source": dst.tdp_source,
                               "method": "measured" if dst is src else "modelled"}
        if dst is src:  # the measurement itself, whatever the table knows
            row.update(note="the run as measured", busy_share=u, speed=1.0, duration_s=t, gpu_energy_j=gpu_j,
                       energy_j=total_j, emissions_g=measured_g, duration_range_s=None, energy_range_j=None)
            rows.append(row)
            continue
        if peak_src is None or peak_dst is None:
            which = src if peak_src is None else dst
            row.update(note=f"no {precision} figure for {which.model} in the table: not priced")
            rows.append(row)
            continue
        r = peak_src / peak_dst
        t_new = t * (1.0 - u + u * r)
        e_gpu = sum(dst.tdp_w * (IDLE_FRACTION * t_new + (1.0 - IDLE_FRACTION) * s * t * r) for s in shares)
        energy = e_gpu + rest_j * t_new / t
        row.update(note="", busy_share=u, speed=1.0 / r, duration_s=t_new, gpu_energy_j=e_gpu, energy_j=energy,
                   emissions_g=energy * g_per_j if g_per_j is not None else None,
                   duration_range_s=[t_new * BAND[0], t_new * BAND[1]],
                   energy_range_j=[energy * BAND[0], energy * BAND[1]])
        rows.append(row)
    return rows
