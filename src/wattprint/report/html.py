"""HTML report: one self-contained file, viewable offline.

Everything is inline: CSS, the power-over-time chart (SVG computed here from
the timeline, so it renders with scripts disabled and without network), the
energy breakdown, emissions, top windows, methodology, everyday equivalents
with their SOURCES, and the JSON report itself in a
``<script type="application/json" id="wattprint-report">`` block so the file
is also a complete archive of the run.

Every headline figure carries ``data-field`` (its path in the JSON report)
and ``data-value`` (the raw number), so tools and tests can check that what
is shown is what was measured.
"""

from __future__ import annotations

import json
import math
from typing import Any

from wattprint.report.escape import html_text as escape
from wattprint.report.fmt import band, duration, location_text, pct, sig, singular
from wattprint.report.schema import SCHEMA_VERSION, hardware_summary
from wattprint.units import fmt_energy, fmt_mass, fmt_power, j_to_kwh

MAX_POINTS = 600  # chart buckets; longer timelines are averaged (energy-preserving)
MAX_EMBEDDED_ROWS = 5000  # timeline rows in the JSON copy inside the page (merged beyond)
TOP_WINDOWS = 10
COLORS = {
    "gpu": "#2ca02c",
    "cpu": "#1f77b4",
    "dram": "#ff7f0e",
    "ram": "#9467bd",
    "psys": "#7f7f7f",
    "total": "#222222",
}
OTHER_COLORS = ("#8c564b", "#e377c2", "#17becf", "#bcbd22")

# Chart geometry (SVG user units).
W, H = 960, 320
ML, MR, MT, MB = 64, 16, 16, 40

CSS = """
:root{--fg:#1d1d1f;--muted:#5f6368;--line:#e0e0e0;--bg:#fff;--card:#f6f7f9}
*{box-sizing:border-box}
body{font:15px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--fg);background:var(--bg);margin:0 auto;max-width:1000px;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 10px;border-bottom:1px solid var(--line);
padding-bottom:4px}
.sub{color:var(--muted);margin:0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:12px;margin-top:20px}
.card{background:var(--card);border-radius:8px;padding:12px 14px}
.card .label{color:var(--muted);font-size:13px}.card .value{font-size:22px;font-weight:600}
.card .note{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--card);padding:1px 4px;
border-radius:3px}
.chart text{font-size:12px;fill:var(--muted)}.chart .grid{stroke:var(--line);stroke-width:1}
.chart .axis{stroke:#9aa0a6;stroke-width:1}
.series{fill:none;stroke-width:1.8;stroke-linejoin:round}
.legend{display:flex;flex-wrap:wrap;gap:14px;font-size:13px;margin:6px 0 0 64px}
.legend span::before{content:"";display:inline-block;width:14px;height:3px;margin-right:6px;
vertical-align:middle;background:var(--c)}
.warn{background:#fff4e5;border-left:4px solid #f29900;padding:8px 12px;margin:6px 0}
.fallback{color:#b06000;font-weight:600}
ol.sources li,ul.method li{margin-bottom:4px}
footer{margin-top:36px;color:var(--muted);font-size:12px}
@media print{body{max-width:none;padding:0}.card{border:1px solid var(--line)}}
"""


def _color(component: str, others: dict[str, str]) -> str:
    if component in COLORS:
        return COLORS[component]
    if component not in others:
        others[component] = OTHER_COLORS[len(others) % len(OTHER_COLORS)]
    return others[component]


def _fig(field: str, value: float | None, text: str) -> str:
    """A figure tagged with its JSON path and raw value."""
    raw = "" if value is None else repr(float(value))
    return f'<span data-field="{escape(field)}" data-value="{raw}">{escape(text)}</span>'


# -- the chart ------------------------------------------------------------------------------


def nice_step(span: float, target: int = 5) -> float:
    """A round tick step (1, 2, 2.5, 5 x 10^k) giving about ``target`` ticks over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def power_series(report: dict[str, Any], max_points: int = MAX_POINTS) -> dict[str, Any]:
    """Per-component power steps from the timeline: ``{"t": [(t0, t1)...], "w": {comp: [W...]}}``.

    Rows are merged into at most ``max_points`` buckets of consecutive rows;
    a bucket's power is its energy over its covered time, so the area under
    each step line stays equal to the measured energy.
    """
    rows = report["timeline"]["rows"]
    comp_of = {c["name"]: c["component"] for c in report["channels"]}
    comps = [c["component"] for c in report["components"]]
    counted = {c["name"] for c in report["channels"] if c["in_total"]}
    n = len(rows)
    size = max(1, math.ceil(n / max_points)) if n else 1
    spans: list[tuple[float, float]] = []
    watts: dict[str, list[float]] = {c: [] for c in [*comps, "total"]}
    for start in range(0, n, size):
        group = rows[start : start + size]
        t0, t1 = group[0]["t0_s"], group[-1]["t1_s"]
        covered = sum(max(0.0, r["t1_s"] - r["t0_s"]) for r in group)
        if covered <= 0:
            continue
        sums = dict.fromkeys([*comps, "total"], 0.0)
        for r in group:
            for name, e in r["energy_j"].items():
                comp = comp_of.get(name)
                if comp is not None:
                    sums[comp] += e
                if name in counted:
                    sums["total"] += e
        spans.append((t0, t1))
        for c in sums:
            watts[c].append(sums[c] / covered)
    return {"t": spans, "w": watts}


def _time_unit(span_s: float) -> tuple[float, str]:
    if span_s <= 180:
        return 1.0, "s"
    if span_s <= 3 * 3600:
        return 60.0, "min"
    return 3600.0, "h"


def chart_svg(report: dict[str, Any]) -> str:
    """The power-over-time chart as inline SVG (empty-state text when there is no timeline)."""
    series = power_series(report)
    spans = series["t"]
    if not spans:
        return '<p class="sub" id="power-chart-empty">No timeline was recorded for this run.</p>'
    x0, x1 = spans[0][0], spans[-1][1]
    if x1 <= x0:
        x1 = x0 + 1.0
    ymax_data = max((max(v) for v in series["w"].values() if v), default=0.0)
    ystep = nice_step(ymax_data or 1.0)
    ymax = ystep * max(1, math.ceil((ymax_data or 1.0) / ystep))
    pw, ph = W - ML - MR, H - MT - MB

    def sx(t: float) -> float:
        return ML + (t - x0) / (x1 - x0) * pw

    def sy(w: float) -> float:
        return MT + ph - (w / ymax) * ph

    parts = [
        f'<svg id="power-chart" class="chart" role="img" aria-label="Power over time per component" '
        f'viewBox="0 0 {W} {H}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'data-x0="{x0!r}" data-x1="{x1!r}" data-ymax="{ymax!r}" data-plot="{ML} {MT} {pw} {ph}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    # horizontal grid + y labels
    k = 0
    while k * ystep <= ymax + 1e-9:
        y = sy(k * ystep)
        parts.append(f'<line class="grid" x1="{ML}" x2="{ML + pw}" y1="{y:.2f}" y2="{y:.2f}"/>')
        parts.append(f'<text x="{ML - 6}" y="{y + 4:.2f}" text-anchor="end">{escape(sig(k * ystep, 4))}</text>')
        k += 1
    parts.append(
        f'<text x="14" y="{MT + ph / 2:.0f}" transform="rotate(-90 14 {MT + ph / 2:.0f})" '
        f'text-anchor="middle">power (W)</text>'
    )
    # x ticks
    unit_s, unit = _time_unit(x1 - x0)
    xstep = nice_step((x1 - x0) / unit_s, 8) * unit_s
    t = math.ceil(x0 / xstep) * xstep
    while t <= x1 + 1e-9:
        x = sx(t)
        parts.append(f'<line class="axis" x1="{x:.2f}" x2="{x:.2f}" y1="{MT + ph}" y2="{MT + ph + 5}"/>')
        parts.append(
            f'<text x="{x:.2f}" y="{MT + ph + 18}" text-anchor="middle">{escape(sig(t / unit_s, 4))}</text>'
        )
        t += xstep
    parts.append(
        f'<text x="{ML + pw / 2:.0f}" y="{H - 4}" text-anchor="middle">time since start ({unit})</text>'
    )
    parts.append(f'<line class="axis" x1="{ML}" x2="{ML + pw}" y1="{MT + ph}" y2="{MT + ph}"/>')
    parts.append(f'<line class="axis" x1="{ML}" x2="{ML}" y1="{MT}" y2="{MT + ph}"/>')

    others: dict[str, str] = {}
    in_total = {c["component"]: c["in_total"] for c in report["components"]}
    legend = []
    names = [c for c in series["w"] if c != "total"]
    if sum(1 for c in names if in_total.get(c)) > 1:
        names.append("total")
    for comp in names:
        vals = series["w"][comp]
        pts = []
        for (a, b), w in zip(spans, vals):
            y = sy(w)
            pts.append(f"{sx(a):.2f},{y:.2f}")
            pts.append(f"{sx(b):.2f},{y:.2f}")
        color = _color(comp, others)
        dash = ' stroke-dasharray="6 4"' if comp == "total" or not in_total.get(comp, True) else ""
        parts.append(
            f'<polyline class="series" data-component="{escape(comp)}" stroke="{color}"{dash} '
            f'points="{" ".join(pts)}"/>'
        )
        label = comp if comp == "total" or in_total.get(comp, True) else f"{comp} (overlaps, not summed)"
        legend.append(f'<span style="--c:{color}">{escape(label)}</span>')
    parts.append("</svg>")
    note = ""
    if len(spans) < len(report["timeline"]["rows"]):
        note = (
            f'<p class="sub">{len(report["timeline"]["rows"])} intervals averaged into {len(spans)} '
            "points (energy-preserving).</p>"
        )
    return "".join(parts) + f'<div class="legend">{"".join(legend)}</div>' + note


def breakdown_svg(report: dict[str, Any]) -> str:
    """Horizontal bars: share of the total energy per component (summed components only)."""
    comps = [c for c in report["components"] if c["in_total"]]
    if not comps:
        return ""
    row_h, label_w, bar_w = 30, 90, 560
    height = row_h * len(comps) + 8
    others: dict[str, str] = {}
    parts = [
        f'<svg id="breakdown-chart" class="chart" viewBox="0 0 {label_w + bar_w + 230} {height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, c in enumerate(comps):
        y = 4 + i * row_h
        width = max(0.0, (c["share"] or 0.0) * bar_w)
        parts.append(f'<text x="0" y="{y + 18}">{escape(c["component"])}</text>')
        parts.append(
            f'<rect class="bar" data-component="{escape(c["component"])}" x="{label_w}" y="{y + 4}" '
            f'width="{width:.2f}" height="{row_h - 10}" fill="{_color(c["component"], others)}"/>'
        )
        parts.append(
            f'<text x="{label_w + width + 8:.2f}" y="{y + 18}">{escape(sig(c["energy_kwh"]))} kWh · '
            f"{escape(pct(c['share']))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


# -- the page -------------------------------------------------------------------------------


def _table(head: list[str], rows: list[list[str]], numeric: set[int], table_id: str) -> str:
    th = "".join(f'<th class="n">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(head))
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f'<table id="{table_id}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def compact_timeline(report: dict[str, Any], max_rows: int = MAX_EMBEDDED_ROWS) -> dict[str, Any]:
    """A copy of ``report`` whose timeline has at most ``max_rows`` rows.

    Consecutive rows are merged (energies summed, so every total is kept);
    used for the copy embedded in the page, so a week-long run does not make
    a 100 MB HTML file. The full series stays in the store and the JSON report.
    """
    rows = report["timeline"]["rows"]
    if len(rows) <= max_rows:
        return report
    size = math.ceil(len(rows) / max_rows)
    merged = []
    for start in range(0, len(rows), size):
        group = rows[start : start + size]
        energy: dict[str, float] = {}
        for r in group:
            for k, v in r["energy_j"].items():
                energy[k] = energy.get(k, 0.0) + v
        merged.append({"t0_s": group[0]["t0_s"], "t1_s": group[-1]["t1_s"],
                       "start_epoch_s": group[0]["start_epoch_s"], "energy_j": energy})
    return {**report, "timeline": {**report["timeline"], "rows": merged}}


def _embedded_json(report: dict[str, Any]) -> str:
    text = json.dumps(compact_timeline(report), separators=(",", ":"), allow_nan=False)
    # Inside <script>, "</script>" or "<!--" would end or confuse the block; escape them.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(report: dict[str, Any]) -> str:
    """The whole HTML document for a report."""
    run, hw, t = report["run"], report["hardware"], report["totals"]
    em, it, pue, sci = report["emissions"], report["intensity"], report["pue"], report["sci"]
    e = escape
    status = run["status"] + (f", exit {run['exit_code']}" if run["exit_code"] is not None else "")
    sub = " · ".join(
        x
        for x in [
            f"run <code>{e(run['id'])}</code> ({e(status)})",
            f"started {e(run['start_utc'] or '-')}",
            f"duration {e(duration(run['duration_s']))}",
            f"host {e(hw['host'] or '-')}",
        ]
    )

    cards = [
        ("Energy (IT)", _fig("totals.energy_kwh", t["energy_kwh"], f"{sig(t['energy_kwh'])} kWh"),
         f"{band(t['band'])} · {', '.join(t['methods']) or '-'} · {fmt_energy(t['energy_j'])}"),
        (f"Facility energy (PUE {sig(pue['value'])})",
         _fig("totals.facility_energy_kwh", t["facility_energy_kwh"], f"{sig(t['facility_energy_kwh'])} kWh"),
         pue["source"]),
    ]
    if em["location_based_g"] is not None:
        cards.append(
            ("CO2e, location-based",
             _fig("emissions.location_based_g", em["location_based_g"], fmt_mass(em["location_based_g"])),
             f"{sig(em['location_based_low_g'])} to {sig(em['location_based_high_g'])} g")
        )
    else:
        cards.append(("CO2e, location-based", "not computed", "no grid intensity recorded"))
    if em["market_based_g"] is not None:
        cards.append(
            ("CO2e, market-based",
             _fig("emissions.market_based_g", em["market_based_g"], fmt_mass(em["market_based_g"])),
             f"{sig(em['market_g_per_kwh'])} gCO2e/kWh · {em['market_source'] or 'user factor'}")
        )
    else:
        cards.append(("CO2e, market-based", "not reported", "no contractual factor given"))
    cards.append(
        ("Mean power", _fig("totals.mean_power_w", t["mean_power_w"], fmt_power(t["mean_power_w"])),
         f"peak {fmt_power(t['peak_power_w'])}" if t["peak_power_w"] is not None else "no timeline")
    )
    if sci:
        cards.append(
            (f"SCI per {singular(sci['functional_unit'])}",
             _fig("sci.sci_g_per_unit", sci["sci_g_per_unit"], f"{sig(sci['sci_g_per_unit'])} g"),
             f"R = {sig(sci['r'], 6)} {sci['functional_unit']} · ISO/IEC 21031")
        )
    cards_html = "".join(
        f'<div class="card"><div class="label">{e(label)}</div><div class="value">{value}</div>'
        f'<div class="note">{e(note)}</div></div>'
        for label, value, note in cards
    )

    body: list[str] = [
        f"<header><h1>Energy report: {e(run['name'])}</h1><p class=\"sub\">{sub}</p></header>",
        f'<section id="summary" class="cards">{cards_html}</section>',
    ]
    if it and it["fallback"]:
        body.append(
            '<div class="warn fallback">Location unknown: the world-average grid intensity was used. '
            "Set --country/--region/--cloud for a meaningful CO2e figure.</div>"
        )

    body.append(f'<section id="power"><h2>Power over time</h2>{chart_svg(report)}</section>')

    comp_rows = []
    for c in report["components"]:
        name = c["component"] if c["in_total"] else f"{c['component']} (overlaps, not summed)"
        comp_rows.append([
            e(name),
            _fig(f"components.{c['component']}.energy_kwh", c["energy_kwh"], sig(c["energy_kwh"])),
            e(pct(c["share"])), e(sig(c["mean_power_w"])), e(sig(c["peak_power_w"])),
            e(", ".join(c["methods"])), e(band(c["band"])), e(sig(c["emissions_g"])),
        ])
    comp_rows.append([
        "<b>Total (IT)</b>", f"<b>{_fig('totals.energy_kwh', t['energy_kwh'], sig(t['energy_kwh']))}</b>",
        "100.0 %", e(sig(t["mean_power_w"])), e(sig(t["peak_power_w"])), e(", ".join(t["methods"])),
        e(band(t["band"])), f"<b>{e(sig(em['location_based_g']))}</b>",
    ])
    chan_rows = [
        [f"<code>{e(c['name'])}</code>", e(c["component"]), e(c["method"]), e(band(c["band"])),
         e(sig(c["energy_kwh"])), e(c["detail"])]
        for c in report["channels"]
    ]
    body.append(
        '<section id="breakdown"><h2>Energy breakdown</h2>' + breakdown_svg(report)
        + _table(["Component", "Energy (kWh)", "Share", "Mean W", "Peak W", "Method", "Band", "CO2e (g)"],
                 comp_rows, {1, 2, 3, 4, 6, 7}, "components-table")
        + "<h3>Channels</h3>"
        + _table(["Channel", "Component", "Method", "Band", "Energy (kWh)", "Detail"], chan_rows, {3, 4},
                 "channels-table")
        + "</section>"
    )

    em_rows = []
    if em["location_based_g"] is not None:
        em_rows.append(["Location-based (GHG Protocol Scope 2), g CO2e",
                        _fig("emissions.location_based_g", em["location_based_g"], sig(em["location_based_g"])),
                        e(location_text(it))])
    else:
        em_rows.append(["Location-based", "-", "no grid intensity recorded"])
    if em["market_based_g"] is not None:
        em_rows.append(["Market-based (GHG Protocol Scope 2), g CO2e",
                        _fig("emissions.market_based_g", em["market_based_g"], sig(em["market_based_g"])),
                        e(f"{sig(em['market_g_per_kwh'])} gCO2e/kWh, {em['market_source'] or 'user factor'}")])
    else:
        em_rows.append(["Market-based", "not reported", "no contractual factor given (--market-g-per-kwh)"])
    if em["embodied_g"] is not None:
        em_rows.append(["Embodied (given), g CO2e", e(sig(em["embodied_g"])), "user figure (--embodied-g)"])
    if it:
        em_rows.append(["Effective intensity, gCO2e/kWh", e(sig(it["effective_g_per_kwh"])),
                        "gCO2e per facility kWh over the run (hourly figures where known)"])
    em_rows.append(["PUE", _fig("pue.value", pue["value"], sig(pue["value"])), e(pue["source"])])
    if sci:
        em_rows.append([
            "SCI (ISO/IEC 21031), g CO2e per unit",
            _fig("sci.sci_g_per_unit", sci["sci_g_per_unit"], sig(sci["sci_g_per_unit"])),
            e(f"g CO2e per {singular(sci['functional_unit'])}: (E x I + M) / R with E = {sig(sci['e_kwh'])} kWh, "
              f"I = {sig(sci['i_g_per_kwh'])} gCO2e/kWh, M = {sig(sci['m_g'])} g, R = {sig(sci['r'], 6)}"),
        ])
    chain = ""
    if it and it["chain"]:
        chain = "<p class=\"sub\">Location chain: " + e(" → ".join(it["chain"])) + "</p>"
    body.append(
        '<section id="emissions"><h2>Emissions</h2>'
        + _table(["Figure", "Value", "Basis"], em_rows, {1}, "emissions-table") + chain + "</section>"
    )

    groups = report["window_groups"]
    if groups:
        top = groups[:TOP_WINDOWS]
        rows = [
            [e(g["name"]), str(g["calls"]),
             _fig(f"window_groups.{g['name']}.energy_kwh", g["energy_kwh"], sig(g["energy_kwh"])),
             e(sig(j_to_kwh(g["mean_j"]))), e(duration(g["duration_s"])), e(pct(g["share_of_run"])),
             e(sig(g["emissions_g"]))]
            for g in top
        ]
        body.append(
            f'<section id="windows"><h2>Top windows (by energy, {len(top)} of {len(groups)})</h2>'
            + _table(["Window", "Calls", "Energy (kWh)", "Mean per call (kWh)", "Time (total)", "Share of run",
                      "CO2e (g)"], rows, {1, 2, 3, 4, 5, 6}, "windows-table")
            + "</section>"
        )

    if report["equivalents"]:
        items = "".join(
            f'<li>{_fig("equivalents." + q["key"], q["value"], sig(q["value"]))} {e(q["unit"])} {e(q["label"])} '
            f'<a href="#source-{i}">[{i}]</a></li>'
            for i, q in enumerate(report["equivalents"], 1)
        )
        body.append(
            '<section id="equivalents"><h2>Everyday equivalents</h2>'
            f'<p class="sub">Illustrations only; they are not part of the accounting.</p><ul>{items}</ul></section>'
        )

    warnings = list((it or {}).get("warnings", [])) + [
        f"{f['source']}: {f['message']}" + (f" ({f['utc']})" if f["utc"] else "") for f in report["faults"]
    ]
    if warnings:
        body.append(
            '<section id="warnings"><h2>Warnings</h2>'
            + "".join(f'<div class="warn">{e(w)}</div>' for w in warnings) + "</section>"
        )

    body.append(
        '<section id="methodology"><h2>Methodology</h2><ul class="method">'
        + "".join(f"<li>{e(m)}</li>" for m in report["methodology"]) + "</ul></section>"
    )

    a = report["attribution"]
    if a:
        rows = [[f"<code>{e(c['name'])}</code>", e(pct(c["share"])), e(sig(j_to_kwh(c["energy_j"]))), e(c["method"])]
                for c in a["channels"]]
        seen = f", {a['processes_seen']} processes seen" if a["processes_seen"] is not None else ""
        body.append(
            '<section id="attribution"><h2>Attribution to the tracked process tree</h2>'
            f"<p>{_fig('attribution.energy_kwh', a['energy_kwh'], sig(a['energy_kwh']))} kWh, "
            f"{e(pct(a['share_of_machine']))} of the machine{e(seen)}.</p>"
            + _table(["Channel", "Share", "Energy (kWh)", "Method"], rows, {1, 2}, "attribution-table")
            + "</section>"
        )
    bl = report["baseline"]
    if bl:
        notes = "".join(f"<li>{e(n)}</li>" for n in bl["notes"])
        body.append(
            '<section id="baseline"><h2>Idle and dynamic energy</h2>'
            f"<p>Idle baseline {e(sig(bl['idle_power_w']))} W ({e(bl['source'] or 'measured')}): "
            f"idle {e(sig(bl['idle_energy_kwh']))} kWh, dynamic "
            f"{_fig('baseline.dynamic_energy_kwh', bl['dynamic_energy_kwh'], sig(bl['dynamic_energy_kwh']))} kWh."
            f"</p>{'<ul>' + notes + '</ul>' if notes else ''}</section>"
        )

    sensor_rows = [[e(s["sensor"]), "yes" if s["available"] else "no", e(s["detail"]), e(s["fix"])]
                   for s in hw["sensors"]]
    hw_html = (
        f"<p>Hardware: {e(hardware_summary(report))}. wattprint {e(hw['wattprint_version'])}, "
        f"report schema {e(SCHEMA_VERSION)}.</p>"
    )
    if run["command"]:
        hw_html += f"<p>Command: <code>{e(' '.join(run['command']))}</code></p>"
    body.append(
        '<section id="hardware"><h2>Hardware and sensors</h2>' + hw_html
        + (_table(["Sensor", "Used", "Detail", "Fix"], sensor_rows, set(), "sensors-table") if sensor_rows else "")
        + "</section>"
    )

    src_items = "".join(
        f'<li id="source-{i}">{e(q["source"])}: {e(q["factor_text"])}. <a href="{e(q["url"])}">{e(q["url"])}</a></li>'
        for i, q in enumerate(report["equivalents"], 1)
    )
    intensity_src = ""
    if it:
        year = f" ({it['year']})" if it["year"] else ""
        intensity_src = f"<li>Grid intensity: {e(it['source'])}{e(year)}.</li>"
    body.append(
        '<section id="sources"><h2>Sources</h2><ol class="sources">' + src_items + intensity_src + "</ol></section>"
    )
    body.append(
        f"<footer>Generated {e(report['generated_utc'])} by {e(report['provenance']['generator'])}. "
        f"Recompute: <code>{e(report['provenance']['recompute'])}</code></footer>"
    )
    if len(report["timeline"]["rows"]) > MAX_EMBEDDED_ROWS:
        body.append(
            f'<p class="sub">The JSON copy embedded in this page merges the {len(report["timeline"]["rows"])} '
            f"timeline intervals into at most {MAX_EMBEDDED_ROWS}; "
            f"<code>{e(report['provenance']['recompute'])}</code> gives the full series.</p>"
        )
    body.append(f'<script type="application/json" id="wattprint-report">{_embedded_json(report)}</script>')

    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>wattprint report: {e(run['name'])}</title><style>{CSS}</style></head>"
        "<body>" + "\n".join(body) + "</body></html>\n"
    )
