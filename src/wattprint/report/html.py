"""HTML report: one self-contained file, viewable offline.

Everything is inline: CSS, the power-over-time chart (SVG computed from the
timeline by :mod:`wattprint.report.html_chart`, so it renders with scripts
disabled and without network), the energy breakdown, emissions, top
windows, methodology, everyday equivalents with their SOURCES, and the JSON
report itself in a ``<script type="application/json" id="wattprint-report">``
block so the file is also a complete archive of the run.

Every headline figure carries ``data-field`` (its path in the JSON report)
and ``data-value`` (the raw number), so tools and tests can check that what
is shown is what was measured. The page is one small function per section,
in page order; :func:`render` strings them together.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from wattprint.report.display import (
    component_label,
    platform_notes,
    platform_rows,
    status_text,
    top_windows,
    warning_lines,
)
from wattprint.report.escape import html_text as escape
from wattprint.report.fmt import band, duration, location_text, pct, sig, singular
from wattprint.report.html_chart import COLORS, MAX_POINTS, breakdown_svg, chart_svg, nice_step, power_series
from wattprint.report.schema import SCHEMA_VERSION, hardware_summary
from wattprint.units import fmt_energy, fmt_mass, fmt_power, j_to_kwh

__all__ = ["COLORS", "MAX_EMBEDDED_ROWS", "MAX_POINTS", "compact_timeline", "nice_step", "power_series", "render"]

MAX_EMBEDDED_ROWS = 5000  # timeline rows in the JSON copy inside the page (merged beyond)

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


Row = list[str]
e = escape


def _fig(field: str, value: float | None, text: str) -> str:
    """A figure tagged with its JSON path and raw value."""
    raw = "" if value is None else repr(float(value))
    return f'<span data-field="{escape(field)}" data-value="{raw}">{escape(text)}</span>'


def _table(head: list[str], rows: list[Row], numeric: set[int], table_id: str) -> str:
    th = "".join(f'<th class="n">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(head))
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f'<table id="{table_id}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _section(section_id: str, title: str, content: str) -> str:
    return f'<section id="{section_id}"><h2>{title}</h2>{content}</section>'


# -- the embedded JSON copy -----------------------------------------------------------------


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


# -- the sections, in page order ------------------------------------------------------------


def _header(report: dict[str, Any]) -> str:
    run, hw = report["run"], report["hardware"]
    sub = " · ".join([
        f"run <code>{e(run['id'])}</code> ({e(status_text(run))})",
        f"started {e(run['start_utc'] or '-')}",
        f"duration {e(duration(run['duration_s']))}",
        f"host {e(hw['host'] or '-')}",
    ])
    return f"<header><h1>Energy report: {e(run['name'])}</h1><p class=\"sub\">{sub}</p></header>"


def _cards(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The headline cards: (label, value markup, note) each."""
    t, em, pue, sci = report["totals"], report["emissions"], report["pue"], report["sci"]
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
             f"{sig(em['market_g_per_kwh'])} gCO2e/kWh × PUE {sig(pue['value'])} · "
             f"{em['market_source'] or 'user factor'}")
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
    for pu in report.get("per_unit") or []:  # counted with run.step(): energy and CO2e per unit
        g = pu["emissions_g"]
        cards.append((f"Per {pu['unit']}", e(fmt_energy(pu["energy_j"])),
                      f"{pu['count']:,} {pu['unit']}s" + (f" · {fmt_mass(g)} CO2e" if g is not None else "")))
    return cards


def _summary(report: dict[str, Any]) -> str:
    cards = "".join(
        f'<div class="card"><div class="label">{e(label)}</div><div class="value">{value}</div>'
        f'<div class="note">{e(note)}</div></div>'
        for label, value, note in _cards(report)
    )
    return f'<section id="summary" class="cards">{cards}</section>'


def _fallback(report: dict[str, Any]) -> str:
    it = report["intensity"]
    if not (it and it["fallback"]):
        return ""
    return ('<div class="warn fallback">Location unknown: the world-average grid intensity was used. '
            "Set --country/--region/--cloud for a meaningful CO2e figure.</div>")


def _power(report: dict[str, Any]) -> str:
    return _section("power", "Power over time", chart_svg(report))


def _component_rows(report: dict[str, Any]) -> list[Row]:
    t, em = report["totals"], report["emissions"]
    rows = [
        [e(component_label(c["component"], c["in_total"])),
         _fig(f"components.{c['component']}.energy_kwh", c["energy_kwh"], sig(c["energy_kwh"])),
         e(pct(c["share"])), e(sig(c["mean_power_w"])), e(sig(c["peak_power_w"])),
         e(", ".join(c["methods"])), e(band(c["band"])), e(sig(c["emissions_g"]))]
        for c in report["components"]
    ]
    rows.append([
        "<b>Total (IT)</b>", f"<b>{_fig('totals.energy_kwh', t['energy_kwh'], sig(t['energy_kwh']))}</b>",
        "100.0 %", e(sig(t["mean_power_w"])), e(sig(t["peak_power_w"])), e(", ".join(t["methods"])),
        e(band(t["band"])), f"<b>{e(sig(em['location_based_g']))}</b>",
    ])
    return rows


def _breakdown(report: dict[str, Any]) -> str:
    chan_rows = [
        [f"<code>{e(c['name'])}</code>", e(c["component"]), e(c["method"]), e(band(c["band"])),
         e(sig(c["energy_kwh"])), e(c["detail"])]
        for c in report["channels"]
    ]
    return _section(
        "breakdown", "Energy breakdown",
        breakdown_svg(report)
        + _table(["Component", "Energy (kWh)", "Share", "Mean W", "Peak W", "Method", "Band", "CO2e (g)"],
                 _component_rows(report), {1, 2, 3, 4, 6, 7}, "components-table")
        + "<h3>Channels</h3>"
        + _table(["Channel", "Component", "Method", "Band", "Energy (kWh)", "Detail"], chan_rows, {3, 4},
                 "channels-table"),
    )


def _platform(report: dict[str, Any]) -> str:
    plat = report["platform"]
    if plat is None:
        return ""
    rows = [[e(label), _fig(f"platform.{key}_j", j, sig(j_to_kwh(j))), _fig(f"platform.{key}_j", j, sig(j)),
             e(method), e(band(b)), e(note)] for key, label, j, method, b, note in platform_rows(plat)]
    notes = "".join(f"<p>{e(line)}</p>" for line in platform_notes(plat))
    table = _table(["Figure", "Energy (kWh)", "Energy (J)", "Method", "Band", "Note"], rows, {1, 2, 4},
                   "platform-table")
    return _section("platform", "Whole machine", table + notes)


def _emission_rows(report: dict[str, Any]) -> list[Row]:
    em, it, pue, sci = report["emissions"], report["intensity"], report["pue"], report["sci"]
    rows = []
    if em["location_based_g"] is not None:
        rows.append(["Location-based, g CO2e",
                     _fig("emissions.location_based_g", em["location_based_g"], sig(em["location_based_g"])),
                     e(location_text(it))])
    else:
        rows.append(["Location-based", "-", "no grid intensity recorded"])
    if em["market_based_g"] is not None:
        rows.append(["Market-based (GHG Protocol Scope 2), g CO2e",
                     _fig("emissions.market_based_g", em["market_based_g"], sig(em["market_based_g"])),
                     e(f"{sig(em['market_g_per_kwh'])} gCO2e/kWh × PUE {sig(pue['value'])}, "
                       f"{em['market_source'] or 'user factor'}")])
    else:
        rows.append(["Market-based", "not reported", "no contractual factor given (--market-g-per-kwh)"])
    if em.get("marginal_g") is not None:
        rows.append(["Marginal (not Scope 2), g CO2", e(sig(em["marginal_g"])),
                     e(f"{pct(em['marginal_share'] or 0.0)} of the energy, "
                       f"{em['marginal_source'] or 'marginal signal'}")])
    if em["embodied_g"] is not None:
        rows.append(["Embodied (given), g CO2e", e(sig(em["embodied_g"])),
                     "user figure (--embodied-g or per-device embodied figures), not in the figures above"])
    if it:
        rows.append(["Effective intensity, gCO2e/kWh", e(sig(it["effective_g_per_kwh"])),
                     "gCO2e per facility kWh over the run (hourly figures where known)"])
    rows.append(["PUE", _fig("pue.value", pue["value"], sig(pue["value"])), e(pue["source"])])
    if sci:
        rows.append([
            "SCI (ISO/IEC 21031), g CO2e per unit",
            _fig("sci.sci_g_per_unit", sci["sci_g_per_unit"], sig(sci["sci_g_per_unit"])),
            e(f"g CO2e per {singular(sci['functional_unit'])}: (E x I + M) / R with E = {sig(sci['e_kwh'])} kWh, "
              f"I = {sig(sci['i_g_per_kwh'])} gCO2e/kWh, M = {sig(sci['m_g'])} g, R = {sig(sci['r'], 6)}"),
        ])
    return rows


def _emissions(report: dict[str, Any]) -> str:
    it = report["intensity"]
    chain = ""
    if it and it["chain"]:
        chain = "<p class=\"sub\">Location chain: " + e(" → ".join(it["chain"])) + "</p>"
    return _section("emissions", "Emissions",
                    _table(["Figure", "Value", "Basis"], _emission_rows(report), {1}, "emissions-table") + chain)


def _windows(report: dict[str, Any]) -> str:
    groups, top = report["window_groups"], top_windows(report)
    if not top:
        return ""
    rows = [
        [e(g["name"]), str(g["calls"]),
         _fig(f"window_groups.{g['name']}.energy_kwh", g["energy_kwh"], sig(g["energy_kwh"])),
         e(sig(j_to_kwh(g["mean_j"]))), e(duration(g["duration_s"])), e(pct(g["share_of_run"])),
         e(sig(g["emissions_g"]))]
        for g in top
    ]
    return _section(
        "windows", f"Top windows (by energy, {len(top)} of {len(groups)})",
        _table(["Window", "Calls", "Energy (kWh)", "Mean per call (kWh)", "Time (total)", "Share of run",
                "CO2e (g)"], rows, {1, 2, 3, 4, 5, 6}, "windows-table"),
    )


def _equivalents(report: dict[str, Any]) -> str:
    if not report["equivalents"]:
        return ""
    items = "".join(
        f'<li>{_fig("equivalents." + q["key"], q["value"], sig(q["value"]))} {e(q["unit"])} {e(q["label"])} '
        f'<a href="#source-{i}">[{i}]</a></li>'
        for i, q in enumerate(report["equivalents"], 1)
    )
    return _section("equivalents", "Everyday equivalents",
                    f'<p class="sub">Illustrations only; they are not part of the accounting.</p><ul>{items}</ul>')


def _warnings(report: dict[str, Any]) -> str:
    warnings = warning_lines(report)
    if not warnings:
        return ""
    return _section("warnings", "Warnings", "".join(f'<div class="warn">{e(w)}</div>' for w in warnings))


def _methodology(report: dict[str, Any]) -> str:
    items = "".join(f"<li>{e(m)}</li>" for m in report["methodology"])
    return _section("methodology", "Methodology", f'<ul class="method">{items}</ul>')


def _attribution(report: dict[str, Any]) -> str:
    a = report["attribution"]
    if not a:
        return ""
    rows = [[f"<code>{e(c['name'])}</code>", e(pct(c["share"])), e(sig(j_to_kwh(c["energy_j"]))), e(c["method"])]
            for c in a["channels"]]
    seen = f", {a['processes_seen']} processes seen" if a["processes_seen"] is not None else ""
    return _section(
        "attribution", "Attribution to the tracked process tree",
        f"<p>{_fig('attribution.energy_kwh', a['energy_kwh'], sig(a['energy_kwh']))} kWh, "
        f"{e(pct(a['share_of_machine']))} of the machine{e(seen)}.</p>"
        + _table(["Channel", "Share", "Energy (kWh)", "Method"], rows, {1, 2}, "attribution-table"),
    )


def _baseline(report: dict[str, Any]) -> str:
    bl = report["baseline"]
    if not bl:
        return ""
    notes = "".join(f"<li>{e(n)}</li>" for n in bl["notes"])
    return _section(
        "baseline", "Idle and dynamic energy",
        f"<p>Idle baseline {e(sig(bl['idle_power_w']))} W ({e(bl['source'] or 'measured')}): "
        f"idle {e(sig(bl['idle_energy_kwh']))} kWh, dynamic "
        f"{_fig('baseline.dynamic_energy_kwh', bl['dynamic_energy_kwh'], sig(bl['dynamic_energy_kwh']))} kWh."
        f"</p>{'<ul>' + notes + '</ul>' if notes else ''}",
    )


def _hardware(report: dict[str, Any]) -> str:
    run, hw = report["run"], report["hardware"]
    sensor_rows = [[e(s["sensor"]), "yes" if s["available"] else "no", e(s["detail"]), e(s["fix"])]
                   for s in hw["sensors"]]
    text = (
        f"<p>Hardware: {e(hardware_summary(report))}. wattprint {e(hw['wattprint_version'])}, "
        f"report schema {e(SCHEMA_VERSION)}.</p>"
    )
    if run["command"]:
        text += f"<p>Command: <code>{e(' '.join(run['command']))}</code></p>"
    table = _table(["Sensor", "Used", "Detail", "Fix"], sensor_rows, set(), "sensors-table") if sensor_rows else ""
    return _section("hardware", "Hardware and sensors", text + table)


def _sources(report: dict[str, Any]) -> str:
    it = report["intensity"]
    items = "".join(
        f'<li id="source-{i}">{e(q["source"])}: {e(q["factor_text"])}. <a href="{e(q["url"])}">{e(q["url"])}</a></li>'
        for i, q in enumerate(report["equivalents"], 1)
    )
    if it:
        year = f" ({it['year']})" if it["year"] else ""
        items += f"<li>Grid intensity: {e(it['source'])}{e(year)}.</li>"
    return _section("sources", "Sources", f'<ol class="sources">{items}</ol>')


def _footer(report: dict[str, Any]) -> str:
    recompute = e(report["provenance"]["recompute"])
    return (f"<footer>Generated {e(report['generated_utc'])} by {e(report['provenance']['generator'])}. "
            f"Recompute: <code>{recompute}</code></footer>")


def _compaction_note(report: dict[str, Any]) -> str:
    n = len(report["timeline"]["rows"])
    if n <= MAX_EMBEDDED_ROWS:
        return ""
    return (f'<p class="sub">The JSON copy embedded in this page merges the {n} timeline intervals into at most '
            f"{MAX_EMBEDDED_ROWS}; <code>{e(report['provenance']['recompute'])}</code> gives the full series.</p>")


def _json_block(report: dict[str, Any]) -> str:
    return f'<script type="application/json" id="wattprint-report">{_embedded_json(report)}</script>'


SECTIONS: tuple[Callable[[dict[str, Any]], str], ...] = (
    _header, _summary, _fallback, _power, _breakdown, _platform, _emissions, _windows, _equivalents, _warnings,
    _methodology, _attribution, _baseline, _hardware, _sources, _footer, _compaction_note, _json_block,
)


def render(report: dict[str, Any]) -> str:
    """The whole HTML document for a report: each section that has something to show, in page order."""
    body = "\n".join(part for part in (section(report) for section in SECTIONS) if part)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>wattprint report: {e(report['run']['name'])}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )
