"""The report's sections, each built from the run record by one function.

:func:`wattprint.report.schema.build_report` calls these in turn. Every input
is read defensively (a stored run from an older wattprint may lack a field):
bad or missing numbers become a stated default or ``None``, never a guess.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from wattprint import units
from wattprint.report.methodology import METHOD_ORDER
from wattprint.units import combined_band, j_to_kwh

COMPONENT_ORDER = ("gpu", "cpu", "dram", "ram", "psys", "platform-rest", "platform")
EXCLUDED = (
    "network equipment and storage outside this machine",
    "facility overhead beyond the PUE factor",
    "embodied (manufacturing) emissions unless given (--embodied-g, or per-device embodied figures)",
    "other machines and idle capacity reserved for the job",
)


# -- small helpers ------------------------------------------------------------------------


def iso_or_none(ts: float | None) -> str | None:
    """:func:`wattprint.units.iso_utc`, with None kept as None (an unknown instant)."""
    return None if ts is None else units.iso_utc(ts)


def num(x: Any, default: float = 0.0) -> float:
    """A finite float (JSON has no NaN/inf): bad or missing values become ``default``."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return v if math.isfinite(v) else default


def opt(x: Any) -> float | None:
    """A finite float, or None for a missing or bad value."""
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


def _share(e: float, total_j: float) -> float:
    return e / total_j if total_j > 0 else 0.0


def _mean_w(e: float, duration: float) -> float:
    return e / duration if duration > 0 else 0.0


# -- power from the timeline --------------------------------------------------------------


class Timeline:
    """The run's timeline rows and their lengths; peaks skip short rows (noisy power)."""

    def __init__(self, rows: list[dict[str, Any]], interval_s: float, intervals: object = None) -> None:
        self.rows = rows
        self.interval_s = interval_s
        # sampled intervals behind the rows (more than the rows when a long run's were merged)
        self.intervals = intervals if isinstance(intervals, int) and intervals >= len(rows) else len(rows)
        self.dts = [num(r.get("t1_s")) - num(r.get("t0_s")) for r in rows]

    def peaks(self, key_of: Callable[[str], str | None]) -> dict[str, float]:
        """Highest mean power (W) of any full-length row, per group of channels (``key_of``)."""
        peak: dict[str, float] = {}
        for row, dt in zip(self.rows, self.dts):
            if dt < 0.5 * self.interval_s or dt <= 0:
                continue  # a short last interval gives noisy power; energy is still counted
            sums: dict[str, float] = {}
            for name, e in (row.get("energy_j") or {}).items():
                key = key_of(name)
                if key is not None:
                    sums[key] = sums.get(key, 0.0) + num(e)
            for key, e in sums.items():
                peak[key] = max(peak.get(key, 0.0), e / dt)
        return peak

    def coverage(self, duration: float) -> dict[str, Any]:
        """How much of the wall time the timeline accounts for."""
        covered = sum(max(0.0, dt) for dt in self.dts)
        sorted_dts = sorted(self.dts)
        gaps = [num(b.get("t0_s")) - num(a.get("t1_s")) for a, b in zip(self.rows, self.rows[1:])]
        return {
            "duration_s": duration,
            "covered_s": covered,
            "fraction": min(1.0, covered / duration) if duration > 0 else (1.0 if not self.rows else 0.0),
            "intervals": self.intervals,
            "interval_s": self.interval_s,
            "median_interval_s": sorted_dts[len(sorted_dts) // 2] if sorted_dts else None,
            "max_gap_s": max([0.0, *gaps]),
        }

    def section(self, channel_names: list[str]) -> dict[str, Any]:
        """The report's ``timeline``: the channels and every row, as recorded."""
        return {
            "channels": channel_names,
            "rows": [
                {
                    "t0_s": num(r.get("t0_s")),
                    "t1_s": num(r.get("t1_s")),
                    "start_epoch_s": num(r.get("start_utc")),
                    "energy_j": {str(k): num(v) for k, v in (r.get("energy_j") or {}).items()},
                }
                for r in self.rows
            ],
        }


# -- energy ------------------------------------------------------------------------------


def channels(
    chans_in: list[dict[str, Any]], total_j: float, duration: float, tl: Timeline, priced: bool
) -> list[dict[str, Any]]:
    """One row per channel, known components first; emissions only when the run was priced."""
    peaks = {k: v for k, v in tl.peaks(lambda n: n).items() if v > 0}
    out: list[dict[str, Any]] = []
    for c in sorted(chans_in, key=lambda c: (component_key(str(c.get("component", ""))), str(c["name"]))):
        e = num(c.get("energy_j"))
        in_total = bool(c.get("in_total", True))
        out.append(
            {
                "name": str(c["name"]),
                "component": str(c.get("component", "other")),
                "method": str(c.get("method", "modelled")),
                "band": num(c.get("band")),
                "in_total": in_total,
                "detail": str(c.get("detail") or ""),
                "energy_j": e,
                "energy_kwh": j_to_kwh(e),
                "share": _share(e, total_j) if in_total else None,
                "mean_power_w": _mean_w(e, duration),
                "peak_power_w": opt(peaks.get(str(c["name"]))),
                "emissions_g": opt(c.get("emissions_g")) if priced else None,
            }
        )
    return out


def _methods(rows: list[dict[str, Any]]) -> list[str]:
    return [m for m in METHOD_ORDER if any(c["method"] == m for c in rows)]


def components(
    chans: list[dict[str, Any]], total_j: float, duration: float, tl: Timeline
) -> list[dict[str, Any]]:
    """The channels summed per component (gpu, cpu, dram ...)."""
    comp_of = {c["name"]: c["component"] for c in chans}
    peaks = tl.peaks(comp_of.get)
    out: list[dict[str, Any]] = []
    for comp in sorted({c["component"] for c in chans}, key=component_key):
        cs = [c for c in chans if c["component"] == comp]
        e = sum(c["energy_j"] for c in cs)
        in_total = all(c["in_total"] for c in cs)
        methods = _methods(cs)
        methods += sorted({c["method"] for c in cs} - set(methods))
        em = [c["emissions_g"] for c in cs]
        out.append(
            {
                "component": comp,
                "channels": [c["name"] for c in cs],
                "methods": methods,
                "band": combined_band((c["energy_j"], c["band"]) for c in cs),
                "in_total": in_total,
                "energy_j": e,
                "energy_kwh": j_to_kwh(e),
                "share": _share(e, total_j) if in_total else None,
                "mean_power_w": _mean_w(e, duration),
                "peak_power_w": opt(peaks.get(comp)),
                "emissions_g": sum(em) if em and all(x is not None for x in em) else None,
            }
        )
    return out


def totals(chans: list[dict[str, Any]], total_j: float, pue: float, duration: float, tl: Timeline) -> dict[str, Any]:
    """The whole span over the counted channels, IT and facility (× PUE) energy."""
    counted = [c for c in chans if c["in_total"]]
    names = {c["name"] for c in counted}
    band = combined_band((c["energy_j"], c["band"]) for c in counted)
    peak = tl.peaks(lambda n: "total" if n in names else None).get("total", 0.0)
    facility_j = total_j * pue
    return {
        "energy_j": total_j,
        "energy_kwh": j_to_kwh(total_j),
        "band": band,
        "energy_low_kwh": j_to_kwh(total_j * (1 - band)),
        "energy_high_kwh": j_to_kwh(total_j * (1 + band)),
        "facility_energy_j": facility_j,
        "facility_energy_kwh": j_to_kwh(facility_j),
        "mean_power_w": _mean_w(total_j, duration),
        "peak_power_w": peak if tl.rows else None,
        "methods": _methods(counted),
    }


# -- intensity and emissions --------------------------------------------------------------


def intensity(it: dict[str, Any], location_g: float | None, facility_j: float) -> dict[str, Any]:
    """Where the intensity came from; ``effective`` is what the emissions really used per kWh."""
    live_values = it.get("series") or it.get("marginal") or it.get("hourly") or []
    used = it.get("applied") if isinstance(it.get("applied"), dict) else {}
    facility_kwh = j_to_kwh(facility_j)
    return {
        "g_per_kwh": num(it.get("g_per_kwh")),
        "effective_g_per_kwh": location_g / facility_kwh if location_g is not None and facility_j > 0 else None,
        "location": str(it.get("location") or "unknown"),
        "source": str(it.get("source") or "unknown"),
        "year": it.get("year") if isinstance(it.get("year"), int) else None,
        "fallback": bool(it.get("fallback")),
        "chain": [str(s) for s in it.get("chain") or []],
        "warnings": [str(s) for s in it.get("warnings") or []],
        "live_source": it.get("live_source") or None,
        "hourly_points": len(live_values),  # live values, at the provider's own resolution
        "live_share": opt(used.get("live_share")) if used else None,
        "basis": {str(k): str(v) for k, v in (it.get("basis") or {}).items()},
        "live_basis": {str(k): str(v) for k, v in (it.get("live_basis") or {}).items()},
        "marginal_source": it.get("marginal_source") or None,
        "market_g_per_kwh": opt(it.get("market_g_per_kwh")),
        "market_source": it.get("market_source") or None,
    }


def emissions(
    location_g: float | None, market_g: float | None, band: float, it: dict[str, Any] | None,
    embodied_g: float | None, marginal_g: tuple[float | None, float | None] | None = None,
) -> dict[str, Any]:
    """Location- and market-based emissions (GHG Protocol Scope 2 dual reporting), with the band;
    a marginal figure (its own, never the location-based total) when the run had one."""
    marginal = marginal_g if marginal_g is not None else (None, None)
    return {
        "location_based_g": location_g,
        "location_based_low_g": location_g * (1 - band) if location_g is not None else None,
        "location_based_high_g": location_g * (1 + band) if location_g is not None else None,
        "market_based_g": market_g,
        "market_g_per_kwh": it["market_g_per_kwh"] if it else None,
        "market_source": it["market_source"] if it else None,
        "marginal_g": marginal[0],
        "marginal_share": marginal[1],
        "marginal_source": it["marginal_source"] if it else None,
        "embodied_g": opt(embodied_g),
    }


def sci(
    per: float | None, unit: str | None, embodied_g: float | None, facility_j: float, it: dict[str, Any] | None,
    share: float | None = None,
) -> dict[str, Any] | None:
    """SCI (ISO/IEC 21031): (E x I + M) per R, location-based I, market instruments excluded.

    ``share`` (scope ``process``): E is that share of the facility energy, the run's process
    tree's part of the machine (its ``attribution``); None: the whole machine."""
    if per is None:
        return None
    e_kwh = j_to_kwh(facility_j * (share if share is not None else 1.0))
    i = it["effective_g_per_kwh"] if it else None
    m = num(embodied_g)
    r = num(per)
    return {
        "standard": "ISO/IEC 21031:2024 (Green Software Foundation SCI)",
        "functional_unit": unit or "unit",
        "r": r,
        "e_kwh": e_kwh,
        "i_g_per_kwh": i,
        "m_g": m,
        "sci_g_per_unit": (e_kwh * i + m) / r if i is not None else None,
        "formula": "SCI = (E x I + M) / R",
        "scope": "machine" if share is None else "process",
    }


_COUNTED = {"step": "steps", "sample": "samples", "token": "tokens"}


def counted_units(progress: Any) -> dict[str, int]:
    """The record's ``progress`` as ``{"step": n, ...}``: whole counts above 0 only."""
    if not isinstance(progress, dict):
        return {}
    out = {}
    for unit, key in _COUNTED.items():
        n = progress.get(key)
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            out[unit] = n
    return out


def functional_unit(progress: Any, unit: str | None) -> float | None:
    """SCI's R from the run's own counts when ``unit`` names one (``tokens``, ``step`` ...)."""
    if not unit:
        return None
    name = unit.strip().lower()
    name = {v: k for k, v in _COUNTED.items()}.get(name, name)
    n = counted_units(progress).get(name)
    return float(n) if n else None


def per_unit(progress: Any, total_j: float, location_g: float | None) -> list[dict[str, Any]]:
    """Energy and location-based emissions per step, sample and token counted during the run."""
    return [
        {
            "unit": unit,
            "count": n,
            "energy_j": total_j / n,
            "energy_kwh": j_to_kwh(total_j / n),
            "emissions_g": location_g / n if location_g is not None else None,
        }
        for unit, n in counted_units(progress).items()
    ]


# -- windows, attribution, baseline ------------------------------------------------------


def windows(
    wins: list[dict[str, Any]], total_j: float, comp_of: dict[str, str], priced: bool
) -> list[dict[str, Any]]:
    """Every window call in order of opening, with its energy per component."""
    out: list[dict[str, Any]] = []
    for w in sorted(wins, key=lambda w: (num(w.get("offset_s")), str(w.get("name")))):
        we = num(w.get("energy_j"))
        wd = num(w.get("duration_s"))
        per_comp: dict[str, float] = {}
        for name, c in (w.get("channels") or {}).items():
            comp = str(c.get("component") or comp_of.get(name, "other"))
            per_comp[comp] = per_comp.get(comp, 0.0) + num(c.get("energy_j"))
        out.append(
            {
                "name": str(w.get("name")),
                "parent": w.get("parent") or None,
                "offset_s": num(w.get("offset_s")),
                "duration_s": wd,
                "start_utc": iso_or_none(opt(w.get("start_utc"))),
                "energy_j": we,
                "energy_kwh": j_to_kwh(we),
                "mean_power_w": _mean_w(we, wd),
                "share_of_run": _share(we, total_j),
                "emissions_g": opt(w.get("emissions_g")) if priced else None,
                "components_j": dict(sorted(per_comp.items(), key=lambda kv: component_key(kv[0]))),
                "per_unit": per_unit(w.get("progress"), we, opt(w.get("emissions_g")) if priced else None),
            }
        )
    return out


def window_groups(wins: list[dict[str, Any]], total_j: float) -> list[dict[str, Any]]:
    """The report's windows taken together by name, largest energy first."""
    groups: dict[str, dict[str, Any]] = {}
    for w in wins:
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
    out = []
    for g in sorted(groups.values(), key=lambda g: (-g["energy_j"], g["name"])):
        g["energy_kwh"] = j_to_kwh(g["energy_j"])
        g["mean_j"] = g["energy_j"] / g["calls"]
        g["share_of_run"] = _share(g["energy_j"], total_j)
        out.append(g)
    return out


def attribution(a: Any, location_g: float | None, machine_j: float) -> dict[str, Any] | None:
    """The process-tree share recorded by the run (its record's ``attribution``), if any."""
    if not isinstance(a, dict):
        return None
    energy = num(a.get("energy_j"))
    machine = num(a.get("machine_energy_j"), machine_j)
    share = energy / machine if machine > 0 else 0.0
    chans = []
    for name, c in sorted((a.get("channels") or {}).items()):
        if isinstance(c, dict):
            chans.append({"name": str(name), "energy_j": num(c.get("energy_j")), "share": num(c.get("share")),
                          "method": str(c.get("method") or "")})
    return {
        "pid": a.get("pid") if isinstance(a.get("pid"), int) else None,
        "processes_seen": a.get("processes_seen") if isinstance(a.get("processes_seen"), int) else None,
        "energy_j": energy,
        "energy_kwh": j_to_kwh(energy),
        "machine_energy_j": machine,
        "share_of_machine": share,
        "rest_of_machine_j": num(a.get("rest_of_machine_j"), max(0.0, machine - energy)),
        "emissions_g": location_g * share if location_g is not None else None,
        "methods": sorted({c["method"] for c in chans if c["method"]}),
        "channels": chans,
    }


def baseline(b: Any, counted: set[str]) -> dict[str, Any] | None:
    """Idle and dynamic energy from a measured idle baseline (the record's ``baseline``), if any."""
    if not isinstance(b, dict):
        return None
    power = {str(k): num(v) for k, v in (b.get("power_w") or {}).items()}
    idle = {str(k): num(v) for k, v in (b.get("idle_energy_j") or {}).items()}
    measured = b.get("measured_utc")
    if isinstance(measured, (int, float)):
        measured = iso_or_none(float(measured))
    idle_total = sum(v for k, v in idle.items() if k in counted)
    dynamic = num(b.get("dynamic_total_j"))
    return {
        "source": str(b.get("source") or ""),
        "measured_utc": str(measured) if measured else None,
        "idle_power_w": sum(v for k, v in power.items() if k in counted),
        "idle_energy_j": idle_total,
        "idle_energy_kwh": j_to_kwh(idle_total),
        "dynamic_energy_j": dynamic,
        "dynamic_energy_kwh": j_to_kwh(dynamic),
        "notes": [str(n) for n in b.get("notes") or []],
    }
