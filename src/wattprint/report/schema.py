"""The versioned JSON report: one document every other format renders from.

:func:`build_report` turns a run dict (``Run.to_dict()`` or a stored run from
``SqliteStore.get_run``) into the report: provenance (hardware, sensors,
wattprint version), method and uncertainty band per channel, the intensity's
source, vintage and location chain, PUE, totals, windows, timeline, emissions
location-based and market-based (GHG Protocol Scope 2 dual reporting), an SCI
figure (ISO/IEC 21031) when a functional unit is given, everyday equivalents
and a generated methodology statement.

:data:`SCHEMA` is the JSON Schema (draft 2020-12) of that document, and
``docs/report-schema.md`` documents every field. Bump :data:`SCHEMA_VERSION`
on any change: minor for added optional fields, major for anything a reader
could trip on (renamed, removed, re-typed or re-meant fields).

Units: joules and seconds, grams CO2e; kWh and W are given beside joules as
convenience fields. Times: ``*_utc`` are ISO 8601 strings in UTC, ``*_epoch_s``
are the same instants as Unix seconds.
"""

from __future__ import annotations

import math
import time
from typing import Any

from wattprint import units
from wattprint.errors import ReportError
from wattprint.report.equivalents import equivalents as _equivalents
from wattprint.units import J_PER_KWH

SCHEMA_VERSION = "1.0.0"
SCHEMA_ID = "urn:wattprint:report:1"

COMPONENT_ORDER = ("gpu", "cpu", "dram", "ram", "psys")
METHOD_ORDER = ("counter", "power-integrated", "modelled")
METHOD_TEXT = {
    "counter": "read from a hardware energy counter (differences of cumulative totals, "
    "wrap-corrected)",
    "power-integrated": "instantaneous power readings integrated over time by the sampler",
    "modelled": "estimated from a power model (e.g. rated TDP x utilisation), not measured",
}
EXCLUDED = (
    "network equipment and storage outside this machine",
    "facility overhead beyond the PUE factor",
    "embodied (manufacturing) emissions unless given with --embodied-g",
    "other machines and idle capacity reserved for the job",
)


# -- small helpers ------------------------------------------------------------------------


def iso_utc(ts: float | None) -> str | None:
    """``2026-11-28T11:35:02Z`` for Unix seconds (None stays None)."""
    return None if ts is None else units.iso_utc(ts)


def _f(x: Any, default: float = 0.0) -> float:
    """A finite float (JSON has no NaN/inf): bad or missing values become ``default``."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return v if math.isfinite(v) else default


def _opt(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def component_key(name: str) -> tuple[int, str]:
    """Sort key putting known components first, in a fixed order."""
    return (COMPONENT_ORDER.index(name) if name in COMPONENT_ORDER else len(COMPONENT_ORDER), name)


def gpu_model(detail: str) -> str:
    """The GPU model name from a GPU channel's detail (``"NVIDIA H100 GPU-…: how"``)."""
    head = detail.split(":", 1)[0].strip()
    words = head.split()
    if len(words) > 1 and (words[-1].startswith("GPU-") or words[-1].count("-") >= 3):
        words = words[:-1]
    return " ".join(words) or "GPU"


def hardware_summary(report: dict[str, Any]) -> str:
    """``"1 x Intel Xeon …, 2 x NVIDIA H100"`` for model cards and impact statements."""
    hw = report["hardware"]
    parts = []
    if hw.get("cpu_model"):
        n = max(1, sum(1 for c in report["channels"] if c["component"] == "cpu"))
        parts.append(f"{n} x {hw['cpu_model']}")
    counts: dict[str, int] = {}
    for g in hw.get("gpus", []):
        counts[g] = counts.get(g, 0) + 1
    parts += [f"{n} x {m}" for m, n in counts.items()]
    return ", ".join(parts) or "unknown"


# -- the builder --------------------------------------------------------------------------


def build_report(
    run: dict[str, Any],
    *,
    per: float | None = None,
    unit: str | None = None,
    embodied_g: float | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The JSON report of ``run`` (a ``Run.to_dict()``-shaped dict).

    ``per`` and ``unit`` give the SCI functional unit (``per=10000,
    unit="samples"``: grams CO2e per sample); ``embodied_g`` is the embodied
    share M in grams (0 when not given). ``now`` fixes ``generated_utc``
    (Unix seconds; default: the current time) so output can be reproduced.
    Missing parts (no intensity yet, no timeline, no GPU) are rendered as
    absent, never invented.
    """
    if per is not None and not (_f(per, -1.0) > 0):
        raise ReportError(f"--per must be a positive number of functional units, got {per!r}")
    if embodied_g is not None and not (_f(embodied_g, -1.0) >= 0):
        raise ReportError(f"--embodied-g must be 0 or more grams CO2e, got {embodied_g!r}")
    if unit is not None and per is None:
        raise ReportError("--unit needs --per N (how many units the run produced)")

    intensity_in = run.get("intensity") or None
    pue = _f((intensity_in or {}).get("pue"), 1.0) or 1.0
    duration = _f(run.get("duration_s"))
    rows_in = run.get("timeline") or []

    chans_in = list((run.get("channels") or {}).values())
    total_j = sum(_f(c.get("energy_j")) for c in chans_in if c.get("in_total", True))

    # Per-channel power series and peaks from the timeline.
    peak_by_channel: dict[str, float] = {}
    interval_s = _f(run.get("interval_s"), 1.0) or 1.0
    dts = []
    for row in rows_in:
        dt = _f(row.get("t1_s")) - _f(row.get("t0_s"))
        dts.append(dt)
        if dt < 0.5 * interval_s or dt <= 0:
            continue  # a short last interval gives noisy power; energy is still counted
        for name, e in (row.get("energy_j") or {}).items():
            p = _f(e) / dt
            if p > peak_by_channel.get(name, 0.0):
                peak_by_channel[name] = p

    channels: list[dict[str, Any]] = []
    for c in sorted(chans_in, key=lambda c: (component_key(str(c.get("component", ""))), str(c["name"]))):
        e = _f(c.get("energy_j"))
        in_total = bool(c.get("in_total", True))
        channels.append(
            {
                "name": str(c["name"]),
                "component": str(c.get("component", "other")),
                "method": str(c.get("method", "modelled")),
                "band": _f(c.get("band")),
                "in_total": in_total,
                "detail": str(c.get("detail") or ""),
                "energy_j": e,
                "energy_kwh": e / J_PER_KWH,
                "share": (e / total_j if total_j > 0 else 0.0) if in_total else None,
                "mean_power_w": e / duration if duration > 0 else 0.0,
                "peak_power_w": _opt(peak_by_channel.get(str(c["name"]))),
                "emissions_g": _opt(c.get("emissions_g")) if intensity_in else None,
            }
        )

    comp_names = sorted({c["component"] for c in channels}, key=component_key)
    comp_peak: dict[str, float] = {}
    by_comp_of = {c["name"]: c["component"] for c in channels}
    for row, dt in zip(rows_in, dts):
        if dt < 0.5 * interval_s or dt <= 0:
            continue
        sums: dict[str, float] = {}
        for name, e in (row.get("energy_j") or {}).items():
            comp = by_comp_of.get(name)
            if comp is not None:
                sums[comp] = sums.get(comp, 0.0) + _f(e)
        for comp, e in sums.items():
            comp_peak[comp] = max(comp_peak.get(comp, 0.0), e / dt)
    components: list[dict[str, Any]] = []
    for comp in comp_names:
        cs = [c for c in channels if c["component"] == comp]
        e = sum(c["energy_j"] for c in cs)
        in_total = all(c["in_total"] for c in cs)
        methods = [m for m in METHOD_ORDER if any(c["method"] == m for c in cs)]
        methods += sorted({c["method"] for c in cs} - set(methods))
        band = sum(c["energy_j"] * c["band"] for c in cs) / e if e > 0 else max(c["band"] for c in cs)
        em = [c["emissions_g"] for c in cs]
        components.append(
            {
                "component": comp,
                "channels": [c["name"] for c in cs],
                "methods": methods,
                "band": band,
                "in_total": in_total,
                "energy_j": e,
                "energy_kwh": e / J_PER_KWH,
                "share": (e / total_j if total_j > 0 else 0.0) if in_total else None,
                "mean_power_w": e / duration if duration > 0 else 0.0,
                "peak_power_w": _opt(comp_peak.get(comp)),
                "emissions_g": sum(em) if em and all(x is not None for x in em) else None,
            }
        )

    counted = [c for c in channels if c["in_total"]]
    band = (
        sum(c["energy_j"] * c["band"] for c in counted) / total_j
        if total_j > 0
        else max((c["band"] for c in counted), default=0.0)
    )
    peak_total = 0.0
    counted_names = {c["name"] for c in counted}
    for row, dt in zip(rows_in, dts):
        if dt >= 0.5 * interval_s and dt > 0:
            s = sum(_f(e) for n, e in (row.get("energy_j") or {}).items() if n in counted_names)
            peak_total = max(peak_total, s / dt)
    methods = [m for m in METHOD_ORDER if any(c["method"] == m for c in counted)]
    facility_j = total_j * pue
    totals = {
        "energy_j": total_j,
        "energy_kwh": total_j / J_PER_KWH,
        "band": band,
        "energy_low_kwh": total_j * (1 - band) / J_PER_KWH,
        "energy_high_kwh": total_j * (1 + band) / J_PER_KWH,
        "facility_energy_j": facility_j,
        "facility_energy_kwh": facility_j / J_PER_KWH,
        "mean_power_w": total_j / duration if duration > 0 else 0.0,
        "peak_power_w": peak_total if rows_in else None,
        "methods": methods,
    }

    # Intensity and emissions.
    location_g = _opt(run.get("emissions_g")) if intensity_in else None
    market_g = _opt(run.get("market_emissions_g")) if intensity_in else None
    intensity: dict[str, Any] | None = None
    if intensity_in:
        hourly = intensity_in.get("hourly") or []
        effective = (
            location_g / (facility_j / J_PER_KWH) if location_g is not None and facility_j > 0 else None
        )
        intensity = {
            "g_per_kwh": _f(intensity_in.get("g_per_kwh")),
            "effective_g_per_kwh": effective,
            "location": str(intensity_in.get("location") or "unknown"),
            "source": str(intensity_in.get("source") or "unknown"),
            "year": intensity_in.get("year") if isinstance(intensity_in.get("year"), int) else None,
            "fallback": bool(intensity_in.get("fallback")),
            "chain": [str(s) for s in intensity_in.get("chain") or []],
            "warnings": [str(s) for s in intensity_in.get("warnings") or []],
            "live_source": intensity_in.get("live_source") or None,
            "hourly_points": len(hourly),
            "market_g_per_kwh": _opt(intensity_in.get("market_g_per_kwh")),
            "market_source": intensity_in.get("market_source") or None,
        }
    pue_block = {
        "value": pue,
        "source": str((intensity_in or {}).get("pue_source") or "not known (1.0 assumed)"),
    }
    emissions = {
        "location_based_g": location_g,
        "location_based_low_g": location_g * (1 - band) if location_g is not None else None,
        "location_based_high_g": location_g * (1 + band) if location_g is not None else None,
        "market_based_g": market_g,
        "market_g_per_kwh": intensity["market_g_per_kwh"] if intensity else None,
        "market_source": intensity["market_source"] if intensity else None,
        "embodied_g": _opt(embodied_g),
    }

    # SCI (ISO/IEC 21031): (E x I + M) per R, location-based I, market instruments excluded.
    sci = None
    if per is not None:
        e_kwh = facility_j / J_PER_KWH
        i = intensity["effective_g_per_kwh"] if intensity else None
        m = _f(embodied_g)
        r = _f(per)
        sci = {
            "standard": "ISO/IEC 21031:2024 (Green Software Foundation SCI)",
            "functional_unit": unit or "unit",
            "r": r,
            "e_kwh": e_kwh,
            "i_g_per_kwh": i,
            "m_g": m,
            "sci_g_per_unit": (e_kwh * i + m) / r if i is not None else None,
            "formula": "SCI = (E x I + M) / R",
        }

    # Coverage: how much of the wall time the timeline accounts for.
    covered = sum(max(0.0, dt) for dt in dts)
    sorted_dts = sorted(dts)
    median_dt = sorted_dts[len(sorted_dts) // 2] if sorted_dts else None
    gaps = [
        _f(b.get("t0_s")) - _f(a.get("t1_s")) for a, b in zip(rows_in, rows_in[1:])
    ]
    coverage = {
        "duration_s": duration,
        "covered_s": covered,
        "fraction": min(1.0, covered / duration) if duration > 0 else (1.0 if not rows_in else 0.0),
        "intervals": len(rows_in),
        "interval_s": interval_s,
        "median_interval_s": median_dt,
        "max_gap_s": max([0.0, *gaps]),
    }

    windows = []
    for w in sorted(run.get("windows") or [], key=lambda w: (_f(w.get("offset_s")), str(w.get("name")))):
        we = _f(w.get("energy_j"))
        wd = _f(w.get("duration_s"))
        per_comp: dict[str, float] = {}
        for name, c in (w.get("channels") or {}).items():
            comp = str(c.get("component") or by_comp_of.get(name, "other"))
            per_comp[comp] = per_comp.get(comp, 0.0) + _f(c.get("energy_j"))
        windows.append(
            {
                "name": str(w.get("name")),
                "parent": w.get("parent") or None,
                "offset_s": _f(w.get("offset_s")),
                "duration_s": wd,
                "start_utc": iso_utc(_opt(w.get("start_utc"))),
                "energy_j": we,
                "energy_kwh": we / J_PER_KWH,
                "mean_power_w": we / wd if wd > 0 else 0.0,
                "share_of_run": we / total_j if total_j > 0 else 0.0,
                "emissions_g": _opt(w.get("emissions_g")) if intensity_in else None,
                "components_j": dict(sorted(per_comp.items(), key=lambda kv: component_key(kv[0]))),
            }
        )

    timeline = {
        "channels": [c["name"] for c in channels],
        "rows": [
            {
                "t0_s": _f(r.get("t0_s")),
                "t1_s": _f(r.get("t1_s")),
                "start_epoch_s": _f(r.get("start_utc")),
                "energy_j": {str(k): _f(v) for k, v in (r.get("energy_j") or {}).items()},
            }
            for r in rows_in
        ],
    }

    gpus = [gpu_model(c["detail"]) for c in channels if c["component"] == "gpu"]
    sensors = [
        {
            "sensor": str(s.get("sensor", "")),
            "available": bool(s.get("available")),
            "detail": str(s.get("detail", "")),
            "fix": str(s.get("fix") or ""),
        }
        for s in run.get("sensors") or []
    ]
    attribution = _attribution(run.get("attribution"), location_g, total_j)
    baseline = _baseline(run.get("baseline"), {c["name"] for c in counted})
    groups: dict[str, dict[str, Any]] = {}
    for w in windows:
        g = groups.setdefault(
            w["name"], {"name": w["name"], "calls": 0, "energy_j": 0.0, "duration_s": 0.0,
                        "min_j": math.inf, "max_j": 0.0, "emissions_g": 0.0}
        )
        g["calls"] += 1
        g["energy_j"] += w["energy_j"]
        g["duration_s"] += w["duration_s"]
        g["min_j"] = min(g["min_j"], w["energy_j"])
        g["max_j"] = max(g["max_j"], w["energy_j"])
        g["emissions_g"] = None if (g["emissions_g"] is None or w["emissions_g"] is None) else (
            g["emissions_g"] + w["emissions_g"]
        )
    window_groups = []
    for g in sorted(groups.values(), key=lambda g: (-g["energy_j"], g["name"])):
        g["energy_kwh"] = g["energy_j"] / J_PER_KWH
        g["mean_j"] = g["energy_j"] / g["calls"]
        g["share_of_run"] = g["energy_j"] / total_j if total_j > 0 else 0.0
        window_groups.append(g)
    measured = sorted({c["component"] for c in channels if c["method"] != "modelled"}, key=component_key)
    modelled = sorted({c["component"] for c in channels if c["method"] == "modelled"}, key=component_key)
    start = _opt(run.get("start_utc"))
    end = _opt(run.get("end_utc"))
    report: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "generated_utc": iso_utc(now if now is not None else time.time()),
        "run": {
            "id": str(run.get("id", "")),
            "name": str(run.get("name", "")),
            "status": str(run.get("status", "")),
            "command": [str(a) for a in run["command"]] if run.get("command") else None,
            "tags": {str(k): str(v) for k, v in (run.get("tags") or {}).items()},
            "exit_code": run.get("exit_code") if isinstance(run.get("exit_code"), int) else None,
            "start_utc": iso_utc(start),
            "end_utc": iso_utc(end),
            "start_epoch_s": start,
            "end_epoch_s": end,
            "duration_s": duration,
        },
        "hardware": {
            "host": str(run.get("host") or ""),
            "cpu_model": str(run.get("cpu_model") or ""),
            "gpus": gpus,
            "wattprint_version": str(run.get("wattprint_version") or ""),
            "sensors": sensors,
        },
        "boundary": {
            "scope": "whole-machine",
            "measured": measured,
            "modelled": modelled,
            "not_summed": [c["name"] for c in channels if not c["in_total"]],
            "excluded": list(EXCLUDED),
        },
        "channels": channels,
        "components": components,
        "totals": totals,
        "intensity": intensity,
        "pue": pue_block,
        "emissions": emissions,
        "sci": sci,
        "coverage": coverage,
        "windows": windows,
        "window_groups": window_groups,
        "timeline": timeline,
        "equivalents": _equivalents(location_g, facility_j / J_PER_KWH),
        "faults": [
            {
                "utc": iso_utc(_opt(f.get("wall"))),
                "source": str(f.get("source", "")),
                "message": str(f.get("message", "")),
            }
            for f in run.get("faults") or []
        ],
        "attribution": attribution,
        "baseline": baseline,
        "methodology": [],
        "provenance": {
            "generator": f"wattprint {run.get('wattprint_version') or ''}".strip(),
            "recompute": f"wattprint report {run.get('id', 'RUN')} --format json",
            "intensity_dataset": (
                f"{intensity['source']}" + (f" ({intensity['year']})" if intensity and intensity["year"] else "")
                if intensity
                else None
            ),
        },
    }
    report["methodology"] = methodology(report)
    return report


def _attribution(a: Any, location_g: float | None, machine_j: float) -> dict[str, Any] | None:
    """The process-tree share recorded by the run (``Run.to_dict()["attribution"]``), if any."""
    if not isinstance(a, dict):
        return None
    energy = _f(a.get("energy_j"))
    machine = _f(a.get("machine_energy_j"), machine_j)
    share = energy / machine if machine > 0 else 0.0
    chans = []
    for name, c in sorted((a.get("channels") or {}).items()):
        if isinstance(c, dict):
            chans.append({"name": str(name), "energy_j": _f(c.get("energy_j")), "share": _f(c.get("share")),
                          "method": str(c.get("method") or "")})
    methods = sorted({c["method"] for c in chans if c["method"]})
    return {
        "pid": a.get("pid") if isinstance(a.get("pid"), int) else None,
        "processes_seen": a.get("processes_seen") if isinstance(a.get("processes_seen"), int) else None,
        "energy_j": energy,
        "energy_kwh": energy / J_PER_KWH,
        "machine_energy_j": machine,
        "share_of_machine": share,
        "rest_of_machine_j": _f(a.get("rest_of_machine_j"), max(0.0, machine - energy)),
        "emissions_g": location_g * share if location_g is not None else None,
        "methods": methods,
        "channels": chans,
    }


def _baseline(b: Any, counted: set[str]) -> dict[str, Any] | None:
    """Idle and dynamic energy from a measured idle baseline (``Run.to_dict()["baseline"]``), if any."""
    if not isinstance(b, dict):
        return None
    power = {str(k): _f(v) for k, v in (b.get("power_w") or {}).items()}
    idle = {str(k): _f(v) for k, v in (b.get("idle_energy_j") or {}).items()}
    measured = b.get("measured_utc")
    if isinstance(measured, (int, float)):
        measured = iso_utc(float(measured))
    idle_total = sum(v for k, v in idle.items() if k in counted)
    return {
        "source": str(b.get("source") or ""),
        "measured_utc": str(measured) if measured else None,
        "idle_power_w": sum(v for k, v in power.items() if k in counted),
        "idle_energy_j": idle_total,
        "idle_energy_kwh": idle_total / J_PER_KWH,
        "dynamic_energy_j": _f(b.get("dynamic_total_j")),
        "dynamic_energy_kwh": _f(b.get("dynamic_total_j")) / J_PER_KWH,
        "notes": [str(n) for n in b.get("notes") or []],
    }


def methodology(report: dict[str, Any]) -> list[str]:
    """Plain statements of how each figure was obtained, generated from the report itself."""
    out: list[str] = []
    t = report["totals"]
    by_method: dict[str, list[str]] = {}
    for c in report["channels"]:
        if c["in_total"]:
            by_method.setdefault(c["method"], []).append(c["name"])
    for m in [*METHOD_ORDER, *sorted(set(by_method) - set(METHOD_ORDER))]:
        if m in by_method:
            out.append(
                f"Energy of {', '.join(by_method[m])}: {METHOD_TEXT.get(m, m)}."
            )
    if report["boundary"]["not_summed"]:
        out.append(
            f"Not added to the total because they overlap other channels: "
            f"{', '.join(report['boundary']['not_summed'])}."
        )
    out.append(
        f"Uncertainty: the total carries a band of ±{t['band'] * 100:.0f} %, the energy-weighted mean "
        "of the per-channel bands (conservative: it assumes channel errors can lean the same way)."
    )
    if report["boundary"]["scope"] == "whole-machine":
        out.append(
            "Scope: the whole machine (every process running during the span), not only the "
            "tracked work; idle power is included."
        )
    a = report["attribution"]
    if a:
        how = f" by {', '.join(a['methods'])}" if a["methods"] else ""
        out.append(
            f"Attribution: {a['share_of_machine'] * 100:.1f} % of the machine's energy is attributed to the "
            f"tracked process tree{how}; the totals above stay whole-machine."
        )
    bl = report["baseline"]
    if bl:
        out.append(
            f"Idle baseline ({bl['source'] or 'measured'}): {bl['idle_power_w']:.1f} W idle, so "
            f"{bl['idle_energy_kwh']:.4g} kWh idle and {bl['dynamic_energy_kwh']:.4g} kWh dynamic energy."
        )
    cov = report["coverage"]
    if cov["intervals"]:
        out.append(
            f"Sampling: {cov['intervals']} timeline intervals of about {cov['interval_s']:g} s cover "
            f"{cov['fraction'] * 100:.1f} % of the {cov['duration_s']:.1f} s span."
        )
    it = report["intensity"]
    pue = report["pue"]
    if it:
        year = f", {it['year']}" if it["year"] else ""
        fallback = (
            " The location was not known, so the world average was used (FALLBACK)." if it["fallback"] else ""
        )
        hourly = (
            f" Hourly figures from {it['live_source']} ({it['hourly_points']} hours) replace the annual "
            "average where they cover an interval."
            if it["hourly_points"]
            else ""
        )
        out.append(
            f"Location-based emissions (GHG Protocol Scope 2): energy x PUE x grid intensity of "
            f"{it['location']}, {it['g_per_kwh']:g} gCO2e/kWh ({it['source']}{year}), summed per "
            f"timeline interval.{hourly}{fallback}"
        )
        if it["chain"]:
            out.append(f"Location chain: {'; '.join(it['chain'])}.")
    else:
        out.append("Emissions: not computed (no grid intensity recorded for this run).")
    out.append(f"PUE {pue['value']:g}: {pue['source']}.")
    em = report["emissions"]
    if em["market_based_g"] is not None:
        out.append(
            f"Market-based emissions: energy x PUE x {em['market_g_per_kwh']:g} gCO2e/kWh, the "
            f"contractual factor given by the user ({em['market_source'] or 'no source named'})."
        )
    else:
        out.append(
            "Market-based emissions: not reported (no contractual emission factor was given; "
            "use --market-g-per-kwh)."
        )
    sci = report["sci"]
    if sci:
        out.append(
            f"SCI per {sci['standard']}: (E x I + M) / R with E the facility energy (IT energy x PUE) "
            f"in kWh, I the location-based intensity in gCO2e/kWh, M = {sci['m_g']:g} g embodied "
            f"emissions, R = {sci['r']:g} {sci['functional_unit']}; market instruments are excluded."
        )
    out.append("Not included: " + "; ".join(report["boundary"]["excluded"]) + ".")
    return out


# -- the JSON Schema ----------------------------------------------------------------------

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
                        }
                    ),
                ]
            },
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
