"""The run page and the compare page.

The run page is built from the JSON report (:func:`wattprint.report.schema.build_report`)
of the stored run read without its timeline and window bodies (``get_run(timeline=False,
windows=False)``: counts and window statistics only), so it costs the same for a
week-long run as for a minute. The power chart is drawn in the browser from
``/api/runs/ID/series`` (:mod:`wattprint.dashboard.series`). The compare page
uses :mod:`wattprint.report.compare` (the same figures and 95 % intervals as
``wattprint compare``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from wattprint.dashboard.pages import layout, num, run_url, when
from wattprint.dashboard.sections import prediction_section
from wattprint.report import compare as cmp
from wattprint.report.display import status_text, warning_lines
from wattprint.report.escape import html_text as esc
from wattprint.report.fmt import band, duration, pct, sig

REPORT_FORMATS = (("md", "Markdown"), ("html", "HTML"), ("json", "JSON"), ("tex", "LaTeX"),
                  ("yaml", "model card"))


def series_url(run_id: str) -> str:
    return f"/api/runs/{quote(run_id, safe='')}/series"


def _numeric(column: int) -> str:
    return ' class="n"' if column else ""


def _card(label: str, value: str, note: str = "") -> str:
    return (f'<div class="card"><div class="label">{esc(label)}</div><div class="value">{value}</div>'
            f'<div class="note">{note}</div></div>')


def _cards(rep: dict[str, Any]) -> str:
    t, em, it = rep["totals"], rep["emissions"], rep["intensity"]
    loc = em["location_based_g"]
    rng = (f"{esc(sig(em['location_based_low_g']))}–{esc(sig(em['location_based_high_g']))} g"
           if loc is not None else "not priced")
    market = em["market_based_g"]
    return '<div class="cards">' + "".join([
        _card("Energy (IT)", num(t["energy_kwh"], f"{sig(t['energy_kwh'])} kWh", "totals.energy_kwh"),
              f"{esc(band(t['band']))} · {esc(', '.join(t['methods']))}"),
        _card("Facility energy (× PUE)", num(t["facility_energy_kwh"], f"{sig(t['facility_energy_kwh'])} kWh",
                                             "totals.facility_energy_kwh"),
              f"PUE {esc(sig(rep['pue']['value']))} ({esc(rep['pue']['source'])})"),
        _card("CO2e location-based", num(loc, f"{sig(loc)} g", "emissions.location_based_g"), rng),
        _card("CO2e market-based", num(market, f"{sig(market)} g" if market is not None else "not reported",
                                       "emissions.market_based_g"),
              esc(em["market_source"] or "no contractual factor given")),
        _card("Duration", esc(duration(rep["run"]["duration_s"])),
              f"mean {esc(sig(t['mean_power_w']))} W"),
        _card("Intensity", num(it["g_per_kwh"] if it else None,
                               f"{sig(it['g_per_kwh'])} g/kWh" if it else "not known", "intensity.g_per_kwh"),
              esc(it["location"]) + (' <span class="fallback">FALLBACK</span>' if it and it["fallback"] else "")
              if it else ""),
    ]) + "</div>"


def _channels(rep: dict[str, Any]) -> str:
    rows = []
    for c in rep["channels"]:
        summed = "" if c["in_total"] else ' <span class="muted">(overlaps, not summed)</span>'
        rows.append(
            f'<tr data-channel="{esc(c["name"])}"><td><code>{esc(c["name"])}</code>{summed}</td>'
            f'<td>{esc(c["component"])}</td><td>{esc(c["method"])}</td><td class="n">{esc(band(c["band"]))}</td>'
            f'<td class="n">{num(c["energy_kwh"], sig(c["energy_kwh"]))}</td>'
            f'<td class="n">{esc(pct(c["share"]))}</td>'
            f'<td class="n">{num(c["emissions_g"], sig(c["emissions_g"]))}</td>'
            f'<td class="detail">{esc(c["detail"])}</td></tr>'
        )
    return ('<table id="channels"><thead><tr><th>Channel</th><th>Component</th><th>Method</th><th class="n">Band</th>'
            '<th class="n">Energy (kWh)</th><th class="n">Share</th><th class="n">CO2e (g)</th><th>Detail</th></tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table>')


def _intensity(rep: dict[str, Any]) -> str:
    it = rep["intensity"]
    if not it:
        return '<p class="muted">The run was not priced (no intensity recorded).</p>'
    fb = ('<div class="warn fallback">Location unknown: the world-average grid intensity was used.</div>'
          if it["fallback"] else "")
    year = f", {it['year']}" if it["year"] else ""
    live = (f"<li>hourly values from {esc(it['live_source'])} ({it['hourly_points']} hours)</li>"
            if it["live_source"] else "")
    chain = "".join(f"<li>{esc(step)}</li>" for step in it["chain"])
    return (f'{fb}<p id="intensity">{esc(it["location"])}: {num(it["g_per_kwh"], sig(it["g_per_kwh"]))} gCO2e/kWh '
            f'<span class="muted">({esc(it["source"])}{esc(year)})</span>; effective over the run '
            f'{num(it["effective_g_per_kwh"], sig(it["effective_g_per_kwh"]))} g/kWh</p>'
            f'<ul class="chain">{live}{chain}</ul>')


def _windows(run: Mapping[str, Any]) -> str:
    stats = run.get("window_stats") or {}
    if not stats:
        return '<p class="muted">No windows were recorded.</p>'
    rows = "".join(
        f'<tr><td>{esc(name)}</td><td class="n">{st["calls"]:.0f}</td>'
        f'<td class="n">{num(st["energy_j"] / 3.6e6, sig(st["energy_j"] / 3.6e6))}</td>'
        f'<td class="n">{esc(sig(st["mean_j"]))} J</td><td class="n">{esc(duration(st["duration_s"]))}</td>'
        f'<td class="n">{esc(pct(st["time_share"]))}</td>'
        f'<td class="n">{st["estimated_calls"]:.0f}</td></tr>'
        for name, st in list(stats.items())[:200]
    )
    return ('<table id="windows"><thead><tr><th>Window</th><th class="n">Calls</th><th class="n">Energy (kWh)</th>'
            '<th class="n">Per call</th><th class="n">Time</th><th class="n">Time share</th>'
            f'<th class="n">Estimated (short)</th></tr></thead><tbody>{rows}</tbody></table>')


def _about(run: Mapping[str, Any], rep: dict[str, Any]) -> str:
    command = " ".join(str(a) for a in run.get("command") or [])
    tags = " ".join(f'<span class="tag">{esc(k)}={esc(v)}</span>' for k, v in (run.get("tags") or {}).items())
    extra = "".join(f"<dt>{k.capitalize()}</dt><dd>{esc(run.get(k) or '')}</dd>"
                    for k in ("project", "owner") if k in run)
    return (f'<dl class="about"><dt>Status</dt><dd>{esc(status_text(rep["run"]))}</dd>'
            f'<dt>Started</dt><dd>{esc(when(run.get("start_utc")))} UTC</dd>'
            f'<dt>Host</dt><dd>{esc(run.get("host") or "")}</dd><dt>CPU</dt><dd>{esc(run.get("cpu_model") or "")}</dd>'
            f'<dt>Command</dt><dd><code>{esc(command) or "-"}</code></dd><dt>Tags</dt><dd>{tags or "-"}</dd>{extra}'
            f'<dt>Timeline</dt><dd>{run.get("timeline_intervals", 0)} intervals of ~{esc(sig(run.get("interval_s")))} s'
            f"</dd></dl>")


def run_page(run: dict[str, Any], rep: dict[str, Any], job: str = "") -> str:
    """The page of one stored run; ``rep`` is its report (built without the timeline); ``job``:
    its ranks and nodes (:func:`wattprint.dashboard.sections.job_section`)."""
    rid = str(run["id"])
    links = " ".join(
        f'<a class="fmt" href="{esc(run_url(rid, "/report." + ext))}">{label}</a>' for ext, label in REPORT_FORMATS)
    warnings = "".join(f'<div class="warn">{esc(w)}</div>' for w in warning_lines(rep))
    predicted = prediction_section(run.get("prediction"))
    chart = (
        f'<div id="chart" class="chartbox" data-series="{esc(series_url(rid))}">'
        '<div class="chart-tools"><button type="button" id="zoom-reset" disabled>Reset zoom</button>'
        '<span class="muted" id="chart-note">drag across the chart to zoom; hover for values</span></div>'
        '<noscript><p class="muted">The power chart needs JavaScript; the reports below carry it as SVG.</p></noscript>'
        "</div>"
    )
    sections = [
        f'<h1 id="run-name">{esc(run.get("name") or "")}</h1><p class="sub"><code id="run-id">{esc(rid)}</code> · '
        f"reports: {links}</p>{_cards(rep)}{warnings}",
        f'<h2>Prediction</h2><div id="prediction-box">{predicted}</div>' if predicted else "",
        f"<h2>Power over time</h2>{chart}",
        f"<h2>Energy and emissions by channel</h2>{_channels(rep)}",
        f"<h2>Intensity</h2>{_intensity(rep)}",
        f"<h2>Windows</h2>{_windows(run)}",
        f'<h2>Ranks and nodes</h2><div id="job">{job}</div>' if job else "",
        f"<h2>About the run</h2>{_about(run, rep)}",
    ]
    return layout(f"Run {run.get('name') or rid}", "".join(sections), active="runs")


# -- compare --------------------------------------------------------------------------------


def compare_page(result: dict[str, Any] | None, message: str = "") -> str:
    """The comparison (:func:`wattprint.report.compare.compare`) as tables, or ``message``."""
    if result is None:
        body = (f'<p class="muted" id="compare-empty">{esc(message)}</p>'
                '<p>Tick two or more runs on the <a href="/">runs list</a> and press "Compare selected", '
                "or give a name (runs sharing a name are repeats: mean ± 95 % CI).</p>"
                '<form method="get" action="/compare" class="filters"><label>Name<input name="name"></label>'
                '<button type="submit">Compare repeats</button></form>')
        return layout("Compare", f"<h1>Compare</h1>{body}", active="compare")
    head, rows = cmp._table_rows(result, esc)  # cells escaped by esc; figures formatted as the CLI does
    ids = [r["id"] for r in result["runs"]]
    th = "".join(
        f'<th class="n"><a href="{esc(run_url(i))}">{cell}</a></th>' if i else "<th></th>"
        for i, cell in zip(["", *ids], head))
    body = "".join("<tr>" + "".join(f"<td{_numeric(k)}>{c}</td>" for k, c in enumerate(r)) + "</tr>"
                   for r in rows)
    groups = _groups(result)
    return layout("Compare", (
        f'<h1>Compare</h1><p class="sub">{len(ids)} runs; differences against the first</p>'
        f'<table id="compare"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>{groups}'
    ), active="compare")


def _groups(result: dict[str, Any]) -> str:
    if not result["groups"]:
        return ""
    out = ['<h2>Repeats: mean ± 95 % confidence interval (Student t)</h2>']
    for g in result["groups"]:
        rows = []
        for key, label in cmp.METRICS:
            s = g["stats"][key]
            if s is None:
                continue
            rows.append(
                f'<tr data-metric="{key}"><td>{esc(label)}</td><td class="n">{num(s["mean"], cmp._fmt(key, s["mean"]))}'
                f'</td><td class="n">± {num(s["half_width"], cmp._fmt(key, s["half_width"]))}</td>'
                f'<td class="n">{esc(cmp._fmt(key, s["low"]))} – {esc(cmp._fmt(key, s["high"]))}</td>'
                f'<td class="n">{esc(cmp._fmt(key, s["sd"]))}</td></tr>'
            )
        out.append(
            f'<h3 class="group">{esc(g["name"])}: {g["n"]} runs</h3><table class="ci" data-group="{esc(g["name"])}">'
            '<thead><tr><th></th><th class="n">Mean</th><th class="n">95 % CI</th><th class="n">Interval</th>'
            f'<th class="n">SD</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
        )
    return "".join(out)
