"""Compare runs side by side, with differences, and group statistics for repeated runs.

Runs that share a name are treated as repeats of one job: their energy,
emissions and duration get a mean and a 95 % confidence interval from the
Student t distribution (two-sided, n - 1 degrees of freedom). The t quantiles
are tabulated below (no scipy needed); between table rows we interpolate
linearly in 1/df, which is accurate to about 1e-3 for df > 30.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from wattprint.errors import ReportError
from wattprint.report.escape import md_text, term_text
from wattprint.report.fmt import duration, sig
from wattprint.report.schema import build_report, component_key

# Two-sided 95 % (upper 0.975) quantiles of Student's t, df = 1..30.
T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)
# Beyond the table: (df, quantile); df = inf is the normal quantile.
T975_TAIL = ((30, 2.0423), (40, 2.0211), (60, 2.0003), (120, 1.9799), (math.inf, 1.95996))

METRICS = (
    ("energy_kwh", "Energy (kWh)"),
    ("emissions_g", "CO2e location-based (g)"),
    ("market_emissions_g", "CO2e market-based (g)"),
    ("duration_s", "Duration (s)"),
    ("mean_power_w", "Mean power (W)"),
)


class CompareError(ReportError):
    """Not enough runs to compare."""


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (df >= 1)."""
    if df < 1:
        raise ValueError("degrees of freedom must be at least 1")
    if df <= len(T975):
        return T975[df - 1]
    for (d0, q0), (d1, q1) in zip(T975_TAIL, T975_TAIL[1:]):
        if d0 <= df <= d1:
            x0, x1, x = 1 / d0, (0.0 if math.isinf(d1) else 1 / d1), 1 / df
            return q0 + (q1 - q0) * (x0 - x) / (x0 - x1)
    return T975_TAIL[-1][1]


def mean_ci(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation and the 95 % t interval of ``values`` (n >= 2)."""
    n = len(values)
    if n < 2:
        raise CompareError("a confidence interval needs at least two runs")
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "half_width": half, "low": mean - half, "high": mean + half}


def _row(run: dict[str, Any]) -> dict[str, Any]:
    rep = build_report(run, now=0.0)
    em = rep["emissions"]
    return {
        "id": rep["run"]["id"],
        "name": rep["run"]["name"],
        "status": rep["run"]["status"],
        "start_utc": rep["run"]["start_utc"],
        "duration_s": rep["run"]["duration_s"],
        "energy_kwh": rep["totals"]["energy_kwh"],
        "band": rep["totals"]["band"],
        "emissions_g": em["location_based_g"],
        "market_emissions_g": em["market_based_g"],
        "mean_power_w": rep["totals"]["mean_power_w"],
        "location": rep["intensity"]["location"] if rep["intensity"] else None,
        "fallback": bool(rep["intensity"] and rep["intensity"]["fallback"]),
        "g_per_kwh": rep["intensity"]["g_per_kwh"] if rep["intensity"] else None,
        "pue": rep["pue"]["value"],
        "site": (run.get("intensity") or {}).get("site"),
        "components_kwh": {c["component"]: c["energy_kwh"] for c in rep["components"] if c["in_total"]},
    }


def _diff(a: float | None, b: float | None) -> dict[str, float | None]:
    if a is None or b is None:
        return {"abs": None, "rel": None}
    return {"abs": b - a, "rel": (b - a) / a if a else None}


def compare(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The comparison of ``runs`` (run dicts); the first run is the baseline for differences."""
    if len(runs) < 2:
        raise CompareError("compare needs at least two runs (give two run ids, or --name NAME with repeats)")
    rows = [_row(r) for r in runs]
    base = rows[0]
    diffs = [
        {"id": r["id"], **{key: _diff(base[key], r[key]) for key, _ in METRICS}}
        for r in rows[1:]
    ]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_name.setdefault(r["name"], []).append(r)
    groups = []
    for name, members in by_name.items():
        if len(members) < 2:
            continue
        stats = {}
        for key, _ in METRICS:
            vals = [m[key] for m in members]
            stats[key] = mean_ci(vals) if all(v is not None for v in vals) else None
        groups.append({"name": name, "n": len(members), "ids": [m["id"] for m in members], "stats": stats})
    components = sorted({c for r in rows for c in r["components_kwh"]}, key=component_key)
    return {"runs": rows, "baseline": base["id"], "differences": diffs, "groups": groups,
            "components": components, "caveats": caveats(rows)}


def grid_label(r: dict[str, Any]) -> str:
    """``FR`` / ``WORLD (fallback)`` / ``unknown``: the grid a run was priced on."""
    if r.get("location") is None:
        return "unknown"
    return f"{r['location']} (fallback)" if r.get("fallback") else str(r["location"])


def caveats(rows: list[dict[str, Any]]) -> list[str]:
    """What makes the CO2e columns not comparable: other grids, a fallback, another PUE."""
    out = []
    grids = sorted({grid_label(r) for r in rows})
    if len(grids) > 1:
        out.append(f"caveat: these runs were priced on different grids ({', '.join(grids)}); "
                   "their CO2e differences mix the grid with the work, compare energy instead.")
    fallbacks = [r["id"] for r in rows if r.get("fallback")]
    if fallbacks and len(fallbacks) < len(rows):
        out.append(f"caveat: {', '.join(fallbacks)} used the world-average fallback (location "
                   "unknown), the others a located grid.")
    pues = sorted({r["pue"] for r in rows if r.get("pue") is not None})
    if len(pues) > 1:
        out.append(f"caveat: the runs carry different PUEs ({', '.join(f'{p:g}' for p in pues)}): "
                   "their CO2e includes different data-centre overheads.")
    return out


def _rel(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:+.1f} %"


def _fmt(key: str, v: float | None) -> str:
    if v is None:
        return "-"
    return duration(v) if key == "duration_s" else sig(v)


def _table_rows(cmp: dict[str, Any], esc: Callable[[object], str]) -> tuple[list[str], list[list[str]]]:
    """Header and body cells; ``esc`` escapes user text (run ids, names, components) for the format."""
    rows = cmp["runs"]
    head = ["", *[f"{esc(r['id'])} {esc(r['name'])}" for r in rows]]
    body = [["Started (UTC)", *[esc(r["start_utc"] or "-") for r in rows]],
            ["Grid", *[esc(grid_label(r)) for r in rows]],
            ["Grid gCO2e/kWh × PUE", *[f"{sig(r['g_per_kwh'])} × {r['pue']:g}"
                                       if r["g_per_kwh"] is not None else "-" for r in rows]]]
    for key, label in METRICS:
        body.append([label, *[_fmt(key, r[key]) for r in rows]])
    for comp in cmp["components"]:
        body.append([f"  {esc(comp)} (kWh)", *[sig(r["components_kwh"].get(comp)) for r in rows]])
    for key, label in (("energy_kwh", "Energy vs first"), ("emissions_g", "CO2e vs first"),
                       ("duration_s", "Duration vs first")):
        body.append([label, "baseline", *[_rel(d[key]["rel"]) for d in cmp["differences"]]])
    return head, body


def _group_lines(cmp: dict[str, Any], esc: Callable[[object], str]) -> list[str]:
    out = []
    for g in cmp["groups"]:
        out.append(f"'{esc(g['name'])}': {g['n']} runs, mean ± 95 % CI (Student t, {g['n'] - 1} df):")
        for key, label in METRICS:
            s = g["stats"][key]
            if s is None:
                continue
            out.append(
                f"  {label}: {_fmt(key, s['mean'])} ± {_fmt(key, s['half_width'])} "
                f"[{_fmt(key, s['low'])}, {_fmt(key, s['high'])}] (sd {_fmt(key, s['sd'])})"
            )
    return out


def render_text(cmp: dict[str, Any]) -> str:
    """Aligned columns for the terminal."""
    head, body = _table_rows(cmp, term_text)
    table = [head, *body]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in table]
    groups = _group_lines(cmp, term_text)
    notes = [term_text(c) for c in cmp.get("caveats", [])]
    return "\n".join(lines + ([""] + groups if groups else []) + ([""] + notes if notes else [])) + "\n"


def render_markdown(cmp: dict[str, Any]) -> str:
    """A Markdown table (runs as columns) plus the group statistics."""
    head, body = _table_rows(cmp, md_text)
    out = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    out += ["| " + " | ".join(c.strip() for c in r) + " |" for r in body]
    groups = _group_lines(cmp, md_text)
    if groups:
        out += [""] + [f"- {g.strip()}" if g.startswith("  ") else g for g in groups]
    notes = cmp.get("caveats", [])
    if notes:
        out += [""] + [f"> {md_text(c)}" for c in notes]
    return "\n".join(out) + "\n"


def render_json(cmp: dict[str, Any]) -> str:
    return json.dumps(cmp, indent=2, allow_nan=False) + "\n"
