"""The HTML report's inline SVG charts: power over time and the energy breakdown.

The charts are computed here from the report's timeline, so the page draws
them with scripts disabled and without network. Data and drawing are kept
apart: :func:`power_series` reduces the timeline to at most ``max_points``
energy-preserving steps, and the drawing functions only ever see that
series, so a longer run costs the same SVG as a short one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from wattprint.report.display import component_label
from wattprint.report.escape import html_text as escape
from wattprint.report.fmt import pct, sig

MAX_POINTS = 600  # chart buckets; longer timelines are averaged (energy-preserving)
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


def _color(component: str, others: dict[str, str]) -> str:
    if component in COLORS:
        return COLORS[component]
    if component not in others:
        others[component] = OTHER_COLORS[len(others) % len(OTHER_COLORS)]
    return others[component]


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


# -- data: the timeline as power steps ----------------------------------------------------------


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


# -- drawing: the power chart -------------------------------------------------------------------


@dataclass(frozen=True)
class _Plot:
    """The chart's scales: time ``x0..x1`` (s) and power ``0..ymax`` (W) onto the plot area."""

    x0: float
    x1: float
    ymax: float
    ystep: float
    pw: int = W - ML - MR
    ph: int = H - MT - MB

    @classmethod
    def of(cls, series: dict[str, Any]) -> _Plot:
        spans = series["t"]
        x0, x1 = spans[0][0], spans[-1][1]
        if x1 <= x0:
            x1 = x0 + 1.0
        ymax_data = max((max(v) for v in series["w"].values() if v), default=0.0)
        ystep = nice_step(ymax_data or 1.0)
        return cls(x0, x1, ystep * max(1, math.ceil((ymax_data or 1.0) / ystep)), ystep)

    def sx(self, t: float) -> float:
        return ML + (t - self.x0) / (self.x1 - self.x0) * self.pw

    def sy(self, w: float) -> float:
        return MT + self.ph - (w / self.ymax) * self.ph


def _time_unit(span_s: float) -> tuple[float, str]:
    if span_s <= 180:
        return 1.0, "s"
    if span_s <= 3 * 3600:
        return 60.0, "min"
    return 3600.0, "h"


def _y_axis(p: _Plot) -> list[str]:
    """Horizontal grid lines with their power labels, and the axis title."""
    parts = []
    k = 0
    while k * p.ystep <= p.ymax + 1e-9:
        y = p.sy(k * p.ystep)
        parts.append(f'<line class="grid" x1="{ML}" x2="{ML + p.pw}" y1="{y:.2f}" y2="{y:.2f}"/>')
        parts.append(f'<text x="{ML - 6}" y="{y + 4:.2f}" text-anchor="end">{escape(sig(k * p.ystep, 4))}</text>')
        k += 1
    mid = f"{MT + p.ph / 2:.0f}"
    parts.append(f'<text x="14" y="{mid}" transform="rotate(-90 14 {mid})" text-anchor="middle">power (W)</text>')
    return parts


def _x_axis(p: _Plot) -> list[str]:
    """Time ticks in s, min or h (whichever suits the run's length), the axis title and both axis lines."""
    unit_s, unit = _time_unit(p.x1 - p.x0)
    xstep = nice_step((p.x1 - p.x0) / unit_s, 8) * unit_s
    base = MT + p.ph
    parts = []
    t = math.ceil(p.x0 / xstep) * xstep
    while t <= p.x1 + 1e-9:
        x = p.sx(t)
        parts.append(f'<line class="axis" x1="{x:.2f}" x2="{x:.2f}" y1="{base}" y2="{base + 5}"/>')
        parts.append(f'<text x="{x:.2f}" y="{base + 18}" text-anchor="middle">{escape(sig(t / unit_s, 4))}</text>')
        t += xstep
    parts.append(f'<text x="{ML + p.pw / 2:.0f}" y="{H - 4}" text-anchor="middle">time since start ({unit})</text>')
    parts.append(f'<line class="axis" x1="{ML}" x2="{ML + p.pw}" y1="{base}" y2="{base}"/>')
    parts.append(f'<line class="axis" x1="{ML}" x2="{ML}" y1="{MT}" y2="{base}"/>')
    return parts


def _lines(report: dict[str, Any], series: dict[str, Any], p: _Plot) -> tuple[list[str], list[str]]:
    """One step polyline per component (and the total when more than one is summed), and the legend."""
    in_total = {c["component"]: c["in_total"] for c in report["components"]}
    names = [c for c in series["w"] if c != "total"]
    if sum(1 for c in names if in_total.get(c)) > 1:
        names.append("total")
    others: dict[str, str] = {}
    lines, legend = [], []
    for comp in names:
        pts = []
        for (a, b), w in zip(series["t"], series["w"][comp]):
            y = p.sy(w)
            pts.append(f"{p.sx(a):.2f},{y:.2f}")
            pts.append(f"{p.sx(b):.2f},{y:.2f}")
        color = _color(comp, others)
        summed = comp == "total" or in_total.get(comp, True)
        dash = ' stroke-dasharray="6 4"' if comp == "total" or not summed else ""
        lines.append(
            f'<polyline class="series" data-component="{escape(comp)}" stroke="{color}"{dash} '
            f'points="{" ".join(pts)}"/>'
        )
        legend.append(f'<span style="--c:{color}">{escape(component_label(comp, summed))}</span>')
    return lines, legend


def chart_svg(report: dict[str, Any]) -> str:
    """The power-over-time chart as inline SVG (empty-state text when there is no timeline)."""
    series = power_series(report)
    if not series["t"]:
        return '<p class="sub" id="power-chart-empty">No timeline was recorded for this run.</p>'
    p = _Plot.of(series)
    lines, legend = _lines(report, series, p)
    svg = (
        f'<svg id="power-chart" class="chart" role="img" aria-label="Power over time per component" '
        f'viewBox="0 0 {W} {H}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'data-x0="{p.x0!r}" data-x1="{p.x1!r}" data-ymax="{p.ymax!r}" data-plot="{ML} {MT} {p.pw} {p.ph}" '
        f'xmlns="http://www.w3.org/2000/svg">' + "".join([*_y_axis(p), *_x_axis(p), *lines]) + "</svg>"
    )
    n_rows, n_points = len(report["timeline"]["rows"]), len(series["t"])
    note = ""
    if n_points < n_rows:
        note = f'<p class="sub">{n_rows} intervals averaged into {n_points} points (energy-preserving).</p>'
    return svg + f'<div class="legend">{"".join(legend)}</div>' + note


# -- drawing: the breakdown bars ----------------------------------------------------------------


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
