"""The versioned JSON report: one document every other format renders from.

:func:`build_report` turns a run record (:class:`~wattprint.tracking.record.RunRecord`:
``Run.to_dict()`` or a stored run from ``SqliteStore.get_run``) into the
report: provenance (hardware, sensors, wattprint version), method and
uncertainty band per channel, the intensity's source, vintage and location
chain, PUE, totals, windows, timeline, emissions location-based and
market-based (GHG Protocol Scope 2 dual reporting), an SCI figure (ISO/IEC
21031) when a functional unit is given, everyday equivalents and a generated
methodology statement.

The sections are built in :mod:`wattprint.report.sections`, the methodology
in :mod:`wattprint.report.methodology`; :data:`SCHEMA` (the JSON Schema,
draft 2020-12, documented in ``docs/report-schema.md``) lives in
:mod:`wattprint.report.json_schema` and is re-exported here with the other
names renderers use.

Units: joules and seconds, grams CO2e; kWh and W are given beside joules as
convenience fields. Times: ``*_utc`` are ISO 8601 strings in UTC, ``*_epoch_s``
are the same instants as Unix seconds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from wattprint.errors import ReportError
from wattprint.report import sections as sec
from wattprint.report.display import platform
from wattprint.report.equivalents import equivalents
from wattprint.report.job import job_methodology
from wattprint.report.json_schema import SCHEMA, SCHEMA_ID, SCHEMA_VERSION, schema_fields
from wattprint.report.methodology import METHOD_ORDER, METHOD_TEXT, methodology
from wattprint.report.sections import COMPONENT_ORDER, EXCLUDED, component_key, gpu_model, hardware_summary
from wattprint.units import j_to_kwh

__all__ = [
    "COMPONENT_ORDER",
    "EXCLUDED",
    "METHOD_ORDER",
    "METHOD_TEXT",
    "SCHEMA",
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "SCOPES",
    "ReportError",
    "build_report",
    "component_key",
    "gpu_model",
    "hardware_summary",
    "methodology",
    "process_share",
    "schema_fields",
]


SCOPES = ("machine", "process")  # what the SCI and the model card count: see build_report


def _check_options(per: float | None, unit: str | None, embodied_g: float | None, progress: Any) -> None:
    if per is not None and not (sec.num(per, -1.0) > 0):
        raise ReportError(f"--per must be a positive number of functional units, got {per!r}")
    if embodied_g is not None and not (sec.num(embodied_g, -1.0) >= 0):
        raise ReportError(f"--embodied-g must be 0 or more grams CO2e, got {embodied_g!r}")
    if unit is not None and per is None and sec.functional_unit(progress, unit) is None:
        raise ReportError(
            "--unit needs --per N (how many units the run produced), unless the run counted them "
            f"(run.step(): {', '.join(sec.counted_units(progress)) or 'nothing counted'})"
        )


def build_report(
    run: Mapping[str, Any],
    *,
    per: float | None = None,
    unit: str | None = None,
    embodied_g: float | None = None,
    now: float | None = None,
    scope: str = "machine",
) -> dict[str, Any]:
    """The JSON report of ``run`` (a run record, live or stored).

    ``per`` and ``unit`` give the SCI functional unit (``per=10000,
    unit="samples"``: grams CO2e per sample); ``unit`` alone (``"tokens"``,
    ``"steps"``, ``"samples"``) takes R from what the run counted with
    ``run.step()``; ``embodied_g`` is the embodied
    share M in grams (0 when not given). ``scope`` is what the SCI's E and the
    model card count: ``machine`` (every counted channel) or ``process`` (the run's
    process-tree share, from its recorded attribution). ``now`` fixes ``generated_utc``
    (Unix seconds; default: the current time) so output can be reproduced.
    Missing parts (no intensity yet, no timeline, no GPU) are rendered as
    absent, never invented.
    """
    _check_options(per, unit, embodied_g, run.get("progress"))
    if scope not in SCOPES:
        raise ReportError(f"--scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if per is None:
        per = sec.functional_unit(run.get("progress"), unit)
    if embodied_g is None:  # the run's own per-device figures (wattprint.embodied), when it had them
        embodied_g = sec.opt((run.get("embodied") or {}).get("emissions_g"))
    intensity_in = run.get("intensity") or None
    priced = bool(intensity_in)
    pue = sec.num((intensity_in or {}).get("pue"), 1.0) or 1.0
    duration = sec.num(run.get("duration_s"))
    tl = sec.Timeline(run.get("timeline") or [], sec.num(run.get("interval_s"), 1.0) or 1.0,
                      run.get("timeline_intervals"))
    chans_in = list((run.get("channels") or {}).values())
    total_j = sum(sec.num(c.get("energy_j")) for c in chans_in if c.get("in_total", True))

    channels = sec.channels(chans_in, total_j, duration, tl, priced)
    totals = sec.totals(channels, total_j, pue, duration, tl)
    facility_j = totals["facility_energy_j"]
    location_g = sec.opt(run.get("emissions_g")) if priced else None
    market_g = sec.opt(run.get("market_emissions_g")) if priced else None
    intensity = sec.intensity(intensity_in, location_g, facility_j) if intensity_in else None
    windows = sec.windows(
        run.get("windows") or [], total_j, {c["name"]: c["component"] for c in channels}, priced
    )
    counted = {c["name"] for c in channels if c["in_total"]}
    attribution = sec.attribution(run.get("attribution"), location_g, total_j)
    share = process_share(attribution) if scope == "process" else None
    report: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "generated_utc": sec.iso_or_none(now if now is not None else time.time()),
        "run": _run_section(run, duration),
        "hardware": _hardware(run, channels),
        "boundary": _boundary(channels),
        "platform": _platform(chans_in, run.get("platform")),
        "channels": channels,
        "components": sec.components(channels, total_j, duration, tl),
        "totals": totals,
        "intensity": intensity,
        "pue": {
            "value": pue,
            "source": str((intensity_in or {}).get("pue_source") or "not known (1.0 assumed)"),
        },
        "emissions": sec.emissions(location_g, market_g, totals["band"], intensity, embodied_g,
                                   _marginal(intensity_in) if priced else None),
        "sci": sec.sci(per, unit, embodied_g, facility_j, intensity, share),
        "per_unit": sec.per_unit(run.get("progress"), total_j, location_g),
        "coverage": tl.coverage(duration),
        "windows": windows,
        "window_groups": sec.window_groups(windows, total_j),
        "timeline": tl.section([c["name"] for c in channels]),
        "equivalents": equivalents(location_g, j_to_kwh(facility_j)),
        "faults": [
            {
                "utc": sec.iso_or_none(sec.opt(f.get("wall"))),
                "source": str(f.get("source", "")),
                "message": str(f.get("message", "")),
            }
            for f in run.get("faults") or []
        ],
        "attribution": attribution,
        "baseline": sec.baseline(run.get("baseline"), counted),
        "methodology": [],
        "provenance": _provenance(run, intensity),
    }
    report["methodology"] = [*methodology(report), *job_methodology(run)]
    return report


def process_share(attribution: dict[str, Any] | None) -> float:
    """The process tree's share of the machine, for ``scope="process"``; a clear error when the
    run recorded none (attribution off, or nothing to attribute)."""
    if attribution is None or attribution["machine_energy_j"] <= 0:
        raise ReportError(
            "--scope process needs the run's process share, and this run recorded none "
            "(attribution was off or unavailable); use --scope machine"
        )
    return float(attribution["share_of_machine"])


def _run_section(run: Mapping[str, Any], duration: float) -> dict[str, Any]:
    start = sec.opt(run.get("start_utc"))
    end = sec.opt(run.get("end_utc"))
    return {
        "id": str(run.get("id", "")),
        "name": str(run.get("name", "")),
        "status": str(run.get("status", "")),
        "command": [str(a) for a in run["command"]] if run.get("command") else None,
        "tags": {str(k): str(v) for k, v in (run.get("tags") or {}).items()},
        "exit_code": run.get("exit_code") if isinstance(run.get("exit_code"), int) else None,
        "start_utc": sec.iso_or_none(start),
        "end_utc": sec.iso_or_none(end),
        "start_epoch_s": start,
        "end_epoch_s": end,
        "duration_s": duration,
    }


def _hardware(run: Mapping[str, Any], channels: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "host": str(run.get("host") or ""),
        "cpu_model": str(run.get("cpu_model") or ""),
        "gpus": [gpu_model(c["detail"]) for c in channels if c["component"] == "gpu"],
        "wattprint_version": str(run.get("wattprint_version") or ""),
        "sensors": [
            {
                "sensor": str(s.get("sensor", "")),
                "available": bool(s.get("available")),
                "detail": str(s.get("detail", "")),
                "fix": str(s.get("fix") or ""),
            }
            for s in run.get("sensors") or []
        ],
    }


_METER_ONLY = ("fallback_j", "fallback_band", "metered_s", "fallback_s", "fallback_spans", "refresh_s", "edge_band",
               "short")


def _platform(chans: list[dict[str, Any]], facts: Any) -> dict[str, Any] | None:
    """The whole machine beside the components (``report/display.py``); the meter's own figures are
    null when the total is the components plus a modelled rest."""
    plat = platform(chans, facts if isinstance(facts, Mapping) else None)
    if plat is None:
        return None
    return {**{k: None for k in _METER_ONLY}, **plat, "whole_kwh": j_to_kwh(plat["whole_j"])}


def _boundary(channels: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "scope": "whole-machine",
        "measured": sorted({c["component"] for c in channels if c["method"] != "modelled"}, key=component_key),
        "modelled": sorted({c["component"] for c in channels if c["method"] == "modelled"}, key=component_key),
        "not_summed": [c["name"] for c in channels if not c["in_total"]],
        "excluded": list(EXCLUDED),
    }


def _provenance(run: Mapping[str, Any], intensity: dict[str, Any] | None) -> dict[str, Any]:
    dataset = None
    if intensity:
        dataset = f"{intensity['source']}" + (f" ({intensity['year']})" if intensity["year"] else "")
    return {
        "generator": f"wattprint {run.get('wattprint_version') or ''}".strip(),
        "recompute": f"wattprint report {run.get('id', 'RUN')} --format json",
        "intensity_dataset": dataset,
    }


def _marginal(it: dict[str, Any] | None) -> tuple[float | None, float | None] | None:
    """(marginal g CO2, share of the energy it covers) from what the run applied, if any."""
    used = (it or {}).get("applied") or {}
    if not isinstance(used, dict) or "marginal_emissions_g" not in used:
        return None
    return sec.opt(used.get("marginal_emissions_g")), sec.opt(used.get("marginal_share"))
