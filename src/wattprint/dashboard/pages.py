"""The dashboard's pages as HTML: the layout, the runs list and the totals.

Every piece of user text (run names, ids, tags, hosts, commands, intensity
sources ...) goes through :func:`wattprint.report.escape.html_text`, in text and
in attributes alike; URLs are built with :func:`urllib.parse.quote` /
``urlencode`` first and escaped after. Pages carry no inline script or style
(the Content-Security-Policy forbids both): behaviour is in ``static/dashboard.js``,
looks in ``static/dashboard.css``. Numbers shown beside a ``data-value`` attribute
carry the raw figure, so tests and tools can check what is shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from wattprint.dashboard.query import OPTIONAL_FIELDS, RunFilter
from wattprint.report.escape import html_text as esc
from wattprint.report.fmt import band, duration, sig
from wattprint.units import iso_utc, j_to_kwh

STATUSES = ("running", "finished", "failed", "interrupted", "killed")


def run_url(run_id: str, tail: str = "") -> str:
    return f"/runs/{quote(str(run_id), safe='')}{tail}"


def with_query(path: str, params: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> str:
    query = urlencode(params, doseq=True)
    return f"{path}?{query}" if query else path


def num(value: float | None, text: str, field: str = "") -> str:
    """A figure as shown, with its raw value in ``data-value`` (empty when not known)."""
    raw = "" if value is None else repr(float(value))
    name = f' data-field="{esc(field)}"' if field else ""
    return f'<span class="num"{name} data-value="{raw}">{esc(text)}</span>'


def _on(flag: bool) -> str:
    return ' class="on"' if flag else ""


def when(ts: float | None) -> str:
    return "-" if ts is None else iso_utc(ts).replace("T", " ").removesuffix("Z")


def layout(title: str, body: str, *, active: str = "") -> str:
    """A page: the navigation bar and ``body`` (already HTML)."""
    nav = "".join(
        f'<a href="{href}"{_on(key == active)}>{label}</a>'
        for key, href, label in (("runs", "/", "Runs"), ("totals", "/totals", "Totals"),
                                 ("compare", "/compare", "Compare"))
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · wattprint</title>"
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
        '<link rel="stylesheet" href="/static/dashboard.css">'
        '<script src="/static/dashboard.js" defer></script></head>'
        f'<body><header class="top"><a class="brand" href="/">wattprint</a><nav>{nav}</nav>'
        '<span class="ro">read-only</span></header>'
        f"<main>{body}</main></body></html>"
    )


def error_page(status: int, message: str) -> str:
    return layout(f"Error {status}", f'<h1>Error {status}</h1><p class="error">{esc(message)}</p>'
                  '<p><a href="/">Back to the runs</a></p>')


# -- the filter form ------------------------------------------------------------------------


def _text_input(name: str, label: str, value: str, placeholder: str = "", kind: str = "text") -> str:
    return (f'<label>{label}<input type="{kind}" name="{name}" value="{esc(value)}" '
            f'placeholder="{esc(placeholder)}"></label>')


def _select(name: str, label: str, value: str, options: Sequence[str]) -> str:
    opts = ['<option value="">any</option>']
    for o in options:
        sel = " selected" if o == value else ""
        opts.append(f'<option value="{esc(o)}"{sel}>{esc(o)}</option>')
    return f'<label>{label}<select name="{name}">{"".join(opts)}</select></label>'


def filter_form(flt: RunFilter, facets: Mapping[str, list[str]], action: str = "/",
                extra: Mapping[str, str] | None = None) -> str:
    hosts = facets.get("host", [])
    parts = [
        _text_input("q", "Search", flt.q, "id, name, command, tag"),
        _text_input("name", "Name", flt.name),
        _text_input("tag", "Tag", flt.tag, "key or key=value"),
        _select("host", "Host", flt.host, hosts) if 0 < len(hosts) <= 50 else _text_input("host", "Host", flt.host),
        _select("status", "Status", flt.status, sorted(set(STATUSES) | set(facets.get("status", [])))),
        _text_input("since", "From", flt.since, "YYYY-MM-DD", "date"),
        _text_input("until", "To", flt.until, "YYYY-MM-DD", "date"),
        _select("fallback", "Intensity fallback", flt.fallback, ("yes", "no")),
    ]
    for key in OPTIONAL_FIELDS:
        if facets.get(key) or getattr(flt, key):
            parts.append(_text_input(key, key.capitalize(), getattr(flt, key)))
    hidden = "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in (extra or {}).items())
    return (f'<form class="filters" method="get" action="{action}" id="filters">{"".join(parts)}{hidden}'
            f'<button type="submit">Filter</button><a class="clear" href="{action}">clear</a></form>')


# -- the runs list --------------------------------------------------------------------------


def _intensity_cell(run: Mapping[str, Any]) -> str:
    it = run.get("intensity") or {}
    if not it:
        return '<span class="muted">not priced</span>'
    flag = ' <span class="fallback" title="location unknown: world average">FALLBACK</span>' if it.get(
        "fallback") else ""
    return f"{esc(it.get('location') or '?')} {esc(sig(it.get('g_per_kwh')))} g/kWh{flag}"


def _tags(tags: Mapping[str, Any]) -> str:
    return " ".join(f'<span class="tag">{esc(k)}={esc(v)}</span>' for k, v in tags.items())


def run_row(run: Mapping[str, Any], columns: Sequence[str] = ()) -> str:
    rid = str(run["id"])
    kwh = j_to_kwh(run.get("energy_j") or 0.0)
    g = run.get("emissions_g")
    extra = "".join(f"<td>{esc(run.get(k) or '')}</td>" for k in columns)
    return (
        f'<tr data-run="{esc(rid)}"><td><input type="checkbox" name="id" value="{esc(rid)}" '
        f'aria-label="select run {esc(rid[:8])}"></td>'
        f'<td><a class="runlink" href="{esc(run_url(rid))}"><code>{esc(rid[:12])}</code></a></td>'
        f'<td class="name">{esc(run.get("name") or "")}</td>'
        f'<td><span class="status s-{esc(run.get("status") or "")}">{esc(run.get("status") or "")}</span></td>'
        f"<td>{esc(when(run.get('start_utc')))}</td><td class=\"n\">{esc(duration(run.get('duration_s') or 0))}</td>"
        f'<td class="n">{num(kwh, sig(kwh), "energy_kwh")} <span class="muted">'
        f'{esc(band(run.get("band") or 0.0))}</span></td>'
        f'<td class="n">{num(g, sig(g), "emissions_g")}</td>'
        f"<td>{_intensity_cell(run)}</td><td>{esc(run.get('host') or '')}</td>{extra}"
        f"<td>{_tags(run.get('tags') or {})}</td></tr>"
    )


def runs_page(shown: list[Any], matched: int, stored: int, flt: RunFilter, facets: Mapping[str, list[str]],
              page_no: int, pages: int) -> str:
    columns = [k for k in OPTIONAL_FIELDS if facets.get(k)]  # project, owner: where the store has any
    extra_heads = "".join(f"<th>{k.capitalize()}</th>" for k in columns)
    head = (f'<tr><th></th><th>Run</th><th>Name</th><th>Status</th><th>Started (UTC)</th><th class="n">Duration</th>'
            f'<th class="n">Energy (kWh)</th><th class="n">CO2e (g)</th><th>Intensity</th><th>Host</th>'
            f"{extra_heads}<th>Tags</th></tr>")
    rows = ("".join(run_row(r, columns) for r in shown)
            or f'<tr><td colspan="12" class="muted">{_empty(stored)}</td></tr>')
    nav = _pager(flt, page_no, pages)
    return layout("Runs", (
        f'<h1>Runs</h1>{filter_form(flt, facets)}'
        f'<p class="sub" id="count">{matched} of {stored} runs match · '
        f'<a href="{esc(with_query("/totals", flt.params()))}">totals of these runs</a></p>'
        f'<form method="get" action="/compare" id="pick"><div class="actions">'
        f'<button type="submit" id="compare-btn">Compare selected</button></div>'
        f'<table class="runs" id="runs"><thead>{head}</thead><tbody>{rows}</tbody></table></form>{nav}'
    ), active="runs")


def _empty(stored: int) -> str:
    return "No run is stored yet." if stored == 0 else "No run matches these filters."


def _pager(flt: RunFilter, page_no: int, pages: int) -> str:
    if pages <= 1:
        return ""
    links = []
    for n, label in ((page_no - 1, "← newer"), (page_no + 1, "older →")):
        if 1 <= n <= pages:
            links.append(f'<a href="{esc(with_query("/", {**flt.params(), "page": n}))}">{label}</a>')
    return f'<p class="pager">page {page_no} of {pages} {" ".join(links)}</p>'


# -- totals ---------------------------------------------------------------------------------


def _bars_svg(rows: list[dict[str, Any]], period: str) -> str:
    """Energy per period as bars, emissions per period as a line (with dots) on its own scale."""
    if not rows:
        return ""
    w, h, ml, mr, mt, mb = 960, 260, 16, 16, 24, 28
    pw, ph = w - ml - mr, h - mt - mb
    emax = max(r["energy_kwh"] for r in rows) or 1.0
    gmax = max(r["emissions_g"] for r in rows) or 1.0
    step = pw / len(rows)
    bw = min(step * 0.8, 60.0)
    parts = [f'<svg id="totals-chart" class="chart" viewBox="0 0 {w} {h}" width="100%" role="img" '
             f'aria-label="energy and emissions per {period}" data-emax="{emax!r}" data-gmax="{gmax!r}" '
             f'xmlns="http://www.w3.org/2000/svg">',
             f'<line class="axis" x1="{ml}" x2="{ml + pw}" y1="{mt + ph}" y2="{mt + ph}"/>']
    pts = []
    for i, r in enumerate(rows):
        mid = ml + (i + 0.5) * step
        bh = r["energy_kwh"] / emax * ph
        label = f"{when(r['start_utc'])[:10]}: {sig(r['energy_kwh'])} kWh, {sig(r['emissions_g'])} g CO2e"
        parts.append(f'<rect class="bar" x="{mid - bw / 2:.2f}" y="{mt + ph - bh:.2f}" width="{bw:.2f}" '
                     f'height="{bh:.2f}" data-kwh="{r["energy_kwh"]!r}"><title>{esc(label)}</title></rect>')
        pts.append((mid, mt + ph - r["emissions_g"] / gmax * ph))
    parts.append(f'<polyline class="emissions" points="{" ".join(f"{x:.2f},{y:.2f}" for x, y in pts)}"/>')
    parts += [f'<circle class="emissions-dot" cx="{x:.2f}" cy="{y:.2f}" r="3"/>' for x, y in pts]
    parts.append(f'<text x="{ml}" y="14">{esc(sig(emax))} kWh</text>'
                 f'<text x="{w - mr}" y="14" text-anchor="end">{esc(sig(gmax))} g CO2e</text>'
                 f'<text x="{ml}" y="{h - 8}">{esc(when(rows[0]["start_utc"])[:10])}</text>'
                 f'<text x="{ml + pw}" y="{h - 8}" text-anchor="end">{esc(when(rows[-1]["start_utc"])[:10])}</text>'
                 "</svg>")
    return "".join(parts) + ('<div class="legend"><span class="k-bar">energy (kWh, bars)</span>'
                             '<span class="k-line">CO2e location-based (g, line)</span></div>')


def totals_page(rows: list[dict[str, Any]], groups: Mapping[str, list[dict[str, Any]]], flt: RunFilter,
                facets: Mapping[str, list[str]], period: str, matched: int) -> str:
    switch = " · ".join(
        f'<a href="{esc(with_query("/totals", {**flt.params(), "period": p}))}"'
        f"{_on(p == period)}>per {p}</a>" for p in ("day", "week"))
    body = "".join(
        f"<tr><td>{esc(when(r['start_utc'])[:10])}</td><td class=\"n\">{r['runs']}</td>"
        f'<td class="n">{num(r["energy_kwh"], sig(r["energy_kwh"]), "energy_kwh")}</td>'
        f'<td class="n">{num(r["emissions_g"], sig(r["emissions_g"]), "emissions_g")}</td>'
        f'<td class="n">{r["unpriced"] or ""}</td></tr>' for r in reversed(rows))
    tables = "".join(_group_table(key, g) for key, g in groups.items())
    return layout("Totals", (
        f"<h1>Totals</h1>{filter_form(flt, facets, '/totals', {'period': period})}"
        f'<p class="sub">{matched} runs, by the UTC {period} each started in · {switch}</p>'
        f"{_bars_svg(rows, period)}"
        f'<table id="totals"><thead><tr><th>{period.capitalize()} (UTC)</th><th class="n">Runs</th>'
        f'<th class="n">Energy (kWh)</th><th class="n">CO2e (g)</th><th class="n">Not priced</th></tr></thead>'
        f"<tbody>{body}</tbody></table>{tables}"
    ), active="totals")


def _group_table(key: str, rows: list[dict[str, Any]]) -> str:
    body = "".join(
        f"<tr><td>{esc(r['key'] or '(none)')}</td><td class=\"n\">{r['runs']}</td>"
        f'<td class="n">{num(r["energy_kwh"], sig(r["energy_kwh"]))}</td>'
        f'<td class="n">{num(r["emissions_g"], sig(r["emissions_g"]))}</td></tr>' for r in rows[:50])
    return (f'<h2>By {esc(key)}</h2><table class="groups" data-key="{esc(key)}"><thead><tr><th>{esc(key)}</th>'
            f'<th class="n">Runs</th><th class="n">Energy (kWh)</th><th class="n">CO2e (g)</th></tr></thead>'
            f"<tbody>{body}</tbody></table>")
