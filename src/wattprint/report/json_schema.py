"""The JSON Schema (draft 2020-12) of the report, and the list of its documented fields.

``docs/report-schema.md`` documents every field listed by :func:`schema_fields`
(``tests/test_report_schema.py`` holds the two together). Bump
:data:`SCHEMA_VERSION` on any change: minor for added optional fields, major
for anything a reader could trip on (renamed, removed, re-typed or re-meant
fields).
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = "1.3.0"
SCHEMA_ID = "urn:wattprint:report:1"

_NUM = {"type": "number"}
_NUM_OR_NULL = {"type": ["number", "null"]}
_STR = {"type": "string"}
_STR_OR_NULL = {"type": ["string", "null"]}
_UTC = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"}
_UTC_OR_NULL = {"anyOf": [_UTC, {"type": "null"}]}
_NONNEG = {"type": "number", "minimum": 0}
_NONNEG_OR_NULL = {"type": ["number", "null"], "minimum": 0}
_STRS = {"type": "array", "items": _STR}


def _obj(props: dict[str, Any], extra: bool = False) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": sorted(props),
        "additionalProperties": extra,
    }


_ENERGY_ROW = {
    "energy_j": _NONNEG,
    "energy_kwh": _NONNEG,
    "share": {"type": ["number", "null"], "minimum": 0, "maximum": 1.000001},
    "mean_power_w": _NONNEG,
    "peak_power_w": _NONNEG_OR_NULL,
    "emissions_g": _NONNEG_OR_NULL,
    "band": {"type": "number", "minimum": 0},
    "in_total": {"type": "boolean"},
}

_PER_UNIT = {  # energy and emissions per unit of work counted with run.step() (schema 1.1)
    "type": "array",
    "items": _obj(
        {
            "unit": {"enum": ["step", "sample", "token"]},
            "count": {"type": "integer", "minimum": 1},
            "energy_j": _NONNEG,
            "energy_kwh": _NONNEG,
            "emissions_g": _NONNEG_OR_NULL,
        }
    ),
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "wattprint energy and emissions report",
    "description": "One measured span of work: energy per channel with method and band, grid intensity "
    "with provenance, emissions location- and market-based, SCI, windows and timeline. "
    "Documented field by field in docs/report-schema.md.",
    **_obj(
        {
            "schema": {"const": SCHEMA_ID},
            "schema_version": {"type": "string", "pattern": r"^1\.\d+\.\d+$"},
            "generated_utc": _UTC,
            "run": _obj(
                {
                    "id": _STR,
                    "name": _STR,
                    "status": _STR,
                    "command": {"type": ["array", "null"], "items": _STR},
                    "tags": {"type": "object", "additionalProperties": _STR},
                    "exit_code": {"type": ["integer", "null"]},
                    "start_utc": _UTC_OR_NULL,
                    "end_utc": _UTC_OR_NULL,
                    "start_epoch_s": _NUM_OR_NULL,
                    "end_epoch_s": _NUM_OR_NULL,
                    "duration_s": _NONNEG,
                }
            ),
            "hardware": _obj(
                {
                    "host": _STR,
                    "cpu_model": _STR,
                    "gpus": _STRS,
                    "wattprint_version": _STR,
                    "sensors": {
                        "type": "array",
                        "items": _obj(
                            {
                                "sensor": _STR,
                                "available": {"type": "boolean"},
                                "detail": _STR,
                                "fix": _STR,
                            }
                        ),
                    },
                }
            ),
            "boundary": _obj(
                {
                    "scope": {"enum": ["whole-machine", "process"]},
                    "measured": _STRS,
                    "modelled": _STRS,
                    "not_summed": _STRS,
                    "excluded": _STRS,
                }
            ),
            "channels": {
                "type": "array",
                "items": _obj(
                    {"name": _STR, "component": _STR, "method": _STR, "detail": _STR, **_ENERGY_ROW}
                ),
            },
            "components": {
                "type": "array",
                "items": _obj(
                    {"component": _STR, "channels": _STRS, "methods": _STRS, **_ENERGY_ROW}
                ),
            },
            "totals": _obj(
                {
                    "energy_j": _NONNEG,
                    "energy_kwh": _NONNEG,
                    "band": _NONNEG,
                    "energy_low_kwh": _NUM,
                    "energy_high_kwh": _NONNEG,
                    "facility_energy_j": _NONNEG,
                    "facility_energy_kwh": _NONNEG,
                    "mean_power_w": _NONNEG,
                    "peak_power_w": _NONNEG_OR_NULL,
                    "methods": _STRS,
                }
            ),
            "intensity": {
                "anyOf": [
                    {"type": "null"},
                    _obj(
                        {
                            "g_per_kwh": _NONNEG,
                            "effective_g_per_kwh": _NONNEG_OR_NULL,
                            "location": _STR,
                            "source": _STR,
                            "year": {"type": ["integer", "null"]},
                            "fallback": {"type": "boolean"},
                            "chain": _STRS,
                            "warnings": _STRS,
                            "live_source": _STR_OR_NULL,
                            "hourly_points": {"type": "integer", "minimum": 0},
                            "live_share": _NONNEG_OR_NULL,
                            "basis": {"type": "object", "additionalProperties": _STR},
                            "live_basis": {"type": "object", "additionalProperties": _STR},
                            "marginal_source": _STR_OR_NULL,
                            "market_g_per_kwh": _NONNEG_OR_NULL,
                            "market_source": _STR_OR_NULL,
                        }
                    ),
                ]
            },
            "pue": _obj({"value": {"type": "number", "minimum": 1}, "source": _STR}),
            "emissions": _obj(
                {
                    "location_based_g": _NONNEG_OR_NULL,
                    "location_based_low_g": _NUM_OR_NULL,
                    "location_based_high_g": _NONNEG_OR_NULL,
                    "market_based_g": _NONNEG_OR_NULL,
                    "market_g_per_kwh": _NONNEG_OR_NULL,
                    "market_source": _STR_OR_NULL,
                    "marginal_g": _NONNEG_OR_NULL,
                    "marginal_share": _NONNEG_OR_NULL,
                    "marginal_source": _STR_OR_NULL,
                    "embodied_g": _NONNEG_OR_NULL,
                }
            ),
            "sci": {
                "anyOf": [
                    {"type": "null"},
                    _obj(
                        {
                            "standard": _STR,
                            "functional_unit": _STR,
                            "r": {"type": "number", "exclusiveMinimum": 0},
                            "e_kwh": _NONNEG,
                            "i_g_per_kwh": _NONNEG_OR_NULL,
                            "m_g": _NONNEG,
                            "sci_g_per_unit": _NONNEG_OR_NULL,
                            "formula": _STR,
                            "scope": {"enum": ["machine", "process"]},
                        }
                    ),
                ]
            },
            "per_unit": _PER_UNIT,
            "coverage": _obj(
                {
                    "duration_s": _NONNEG,
                    "covered_s": _NONNEG,
                    "fraction": {"type": "number", "minimum": 0, "maximum": 1},
                    "intervals": {"type": "integer", "minimum": 0},
                    "interval_s": {"type": "number", "exclusiveMinimum": 0},
                    "median_interval_s": _NONNEG_OR_NULL,
                    "max_gap_s": _NUM,
                }
            ),
            "windows": {
                "type": "array",
                "items": _obj(
                    {
                        "name": _STR,
                        "parent": _STR_OR_NULL,
                        "offset_s": _NUM,
                        "duration_s": _NONNEG,
                        "start_utc": _UTC_OR_NULL,
                        "energy_j": _NONNEG,
                        "energy_kwh": _NONNEG,
                        "mean_power_w": _NONNEG,
                        "share_of_run": _NONNEG,
                        "emissions_g": _NONNEG_OR_NULL,
                        "components_j": {"type": "object", "additionalProperties": _NONNEG},
                        "per_unit": _PER_UNIT,
                    }
                ),
            },
            "timeline": _obj(
                {
                    "channels": _STRS,
                    "rows": {
                        "type": "array",
                        "items": _obj(
                            {
                                "t0_s": _NUM,
                                "t1_s": _NUM,
                                "start_epoch_s": _NUM,
                                "energy_j": {"type": "object", "additionalProperties": _NONNEG},
                            }
                        ),
                    },
                }
            ),
            "equivalents": {
                "type": "array",
                "items": _obj(
                    {
                        "key": _STR,
                        "label": _STR,
                        "value": _NONNEG,
                        "unit": _STR,
                        "basis": {"enum": ["emissions_g", "energy_kwh"]},
                        "factor": {"type": "number", "exclusiveMinimum": 0},
                        "factor_text": _STR,
                        "source": _STR,
                        "url": _STR,
                    }
                ),
            },
            "faults": {
                "type": "array",
                "items": _obj({"utc": _UTC_OR_NULL, "source": _STR, "message": _STR}),
            },
            "window_groups": {
                "type": "array",
                "items": _obj(
                    {
                        "name": _STR,
                        "calls": {"type": "integer", "minimum": 1},
                        "energy_j": _NONNEG,
                        "energy_kwh": _NONNEG,
                        "mean_j": _NONNEG,
                        "min_j": _NONNEG,
                        "max_j": _NONNEG,
                        "duration_s": _NONNEG,
                        "share_of_run": _NONNEG,
                        "emissions_g": _NONNEG_OR_NULL,
                    }
                ),
            },
            "attribution": {
                "anyOf": [
                    {"type": "null"},
                    _obj(
                        {
                            "pid": {"type": ["integer", "null"]},
                            "processes_seen": {"type": ["integer", "null"]},
                            "energy_j": _NONNEG,
                            "energy_kwh": _NONNEG,
                            "machine_energy_j": _NONNEG,
                            "share_of_machine": _NONNEG,
                            "rest_of_machine_j": _NUM,
                            "emissions_g": _NONNEG_OR_NULL,
                            "methods": _STRS,
                            "channels": {
                                "type": "array",
                                "items": _obj({"name": _STR, "energy_j": _NONNEG, "share": _NONNEG, "method": _STR}),
                            },
                        }
                    ),
                ]
            },
            "baseline": {
                "anyOf": [
                    {"type": "null"},
                    _obj(
                        {
                            "source": _STR,
                            "measured_utc": _STR_OR_NULL,
                            "idle_power_w": _NONNEG,
                            "idle_energy_j": _NONNEG,
                            "idle_energy_kwh": _NONNEG,
                            "dynamic_energy_j": _NONNEG,
                            "dynamic_energy_kwh": _NONNEG,
                            "notes": _STRS,
                        }
                    ),
                ]
            },
            "platform": {  # the whole machine beside the components (schema 1.2)
                "anyOf": [
                    {"type": "null"},
                    _obj(
                        {
                            "used": {"enum": ["whole-machine", "modelled-rest"]},
                            "channel": _STR,
                            "whole_j": _NONNEG,
                            "whole_kwh": _NONNEG,
                            "whole_method": _STR,
                            "whole_band": _NONNEG,
                            "components_j": _NONNEG,
                            "components_band": _NONNEG,
                            "components_methods": _STRS,
                            "rest_j": _NUM,
                            "rest_method": {"enum": ["measured", "modelled"]},
                            "rest_band": _NONNEG,
                            "fallback_j": _NONNEG_OR_NULL,
                            "fallback_band": _NONNEG_OR_NULL,
                            "metered_s": _NONNEG_OR_NULL,
                            "fallback_s": _NONNEG_OR_NULL,
                            "fallback_spans": {"type": ["integer", "null"], "minimum": 0},
                            "refresh_s": _NONNEG_OR_NULL,
                            "edge_band": _NONNEG_OR_NULL,
                            "short": {"type": ["boolean", "null"]},
                        }
                    ),
                ]
            },
            "methodology": _STRS,
            "provenance": _obj(
                {"generator": _STR, "recompute": _STR, "intensity_dataset": _STR_OR_NULL}
            ),
        }
    ),
}


def schema_fields(schema: dict[str, Any] | None = None, prefix: str = "") -> list[str]:
    """Every documented field path (``totals.energy_kwh``, ``channels[].band`` ...)."""
    schema = SCHEMA if schema is None else schema
    out: list[str] = []
    for variant in schema.get("anyOf", []):
        out += schema_fields(variant, prefix)
    props = schema.get("properties") or {}
    for name, sub in props.items():
        path = f"{prefix}{name}"
        out.append(path)
        out += schema_fields(sub, path + ".")
        items = sub.get("items")
        if isinstance(items, dict):
            out += schema_fields(items, path + "[].")
    return out
