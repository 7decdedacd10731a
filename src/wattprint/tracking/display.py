"""How a run or a window shows itself: ``repr()``, and Markdown/HTML for notebooks.

One set of facts per span (:func:`facts`: kind, name, state, duration, energy
with its band, mean power, CO2e, figures per unit of work) rendered three
ways. A running run is read once (``run.current()``), so the figures shown
agree with each other. Names come from the user: every piece passes through
the format's helper in :mod:`wattprint.report.escape` (a stdlib-only module,
placed in the bottom layer for that reason). Showing never raises: a span
that cannot be read shows as what it is and why.
"""

from __future__ import annotations

import math

from wattprint.report.escape import html_text, md_code, md_text, term_text
from wattprint.tracking.progress import UNITS
from wattprint.units import fmt_duration, fmt_energy, fmt_mass, fmt_power

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from wattprint.tracking.measure import Measurement


def _state(span: Measurement) -> str:
    status = getattr(span, "status", None)
    if status is None:  # a window
        status = "closed" if getattr(span, "closed", True) else "open"
    return str(status)


def _mass(g: float | None) -> str:
    if g is None or math.isnan(g):
        return "pending (intensity not known yet)"
    return fmt_mass(g)


def facts(span: Measurement) -> tuple[str, str, list[tuple[str, str]]]:
    """``(heading, name, [(label, value), ...])`` for a span, as plain text (unescaped)."""
    live = getattr(span, "current", None)
    m = live() if callable(live) else span  # one read for every figure of a running run
    head = f"wattprint {span.kind} ({_state(span)}, {fmt_duration(m.duration_s)})"
    rows = [
        ("energy", f"{fmt_energy(m.energy_j)} ±{m.band:.0%} ({', '.join(m.methods) or 'no channel'})"),
        ("mean power", fmt_power(m.power_w)),
        ("CO2e", _mass(m.emissions_g) + (" location-based" if m.intensity is not None else "")),
    ]
    if m.market_emissions_g is not None:
        rows.append(("CO2e market", fmt_mass(m.market_emissions_g)))
    for unit in UNITS:
        per = m.per(unit)
        if per is not None:
            rows.append((f"per {unit} ({per.count:,})", f"{fmt_energy(per.energy_j)}, {_mass(per.emissions_g)}"))
    return head, str(span.name), rows


def text(span: Measurement) -> str:
    """One terminal-safe line: ``<wattprint run 'train' (running, 3.20s): energy 41 J ±5% ...>``."""
    try:
        head, name, rows = facts(span)
    except Exception as exc:  # repr() must never fail (a debugger, a log line)
        return f"<wattprint {getattr(span, 'kind', 'span')} (figures unreadable: {term_text(exc)})>"
    body = "; ".join(f"{label} {value}" for label, value in rows)
    return f"<{head.replace(' (', f' {term_text(name)!r} (', 1)}: {term_text(body)}>"


def _channel_rows(span: Measurement) -> list[tuple[str, str, str]]:
    live = getattr(span, "current", None)
    m = live() if callable(live) else span
    return [
        (c.name, fmt_energy(c.energy_j) + ("" if c.in_total else " (not in total)"), c.method)
        for c in m.channels.values()
    ]


def markdown(span: Measurement) -> str:
    """A small Markdown table (``_repr_markdown_``)."""
    try:
        head, name, rows = facts(span)
    except Exception as exc:
        return md_text(f"wattprint {getattr(span, 'kind', 'span')}: figures unreadable ({exc})")
    out = [f"**{md_text(head)}** {md_code(name)}", "", "| | |", "|---|---|"]
    out += [f"| {md_text(label)} | {md_text(value)} |" for label, value in rows]
    return "\n".join(out) + "\n"


def html(span: Measurement, *, channels: bool = True) -> str:
    """A small HTML table (``_repr_html_``; the notebook magics' display), channels folded."""
    try:
        head, name, rows = facts(span)
        chans = _channel_rows(span) if channels else []
    except Exception as exc:
        return f"<div class=\"wattprint\">wattprint: figures unreadable ({html_text(exc)})</div>"
    cells = "".join(
        f"<tr><th style=\"text-align:left\">{html_text(label)}</th><td style=\"text-align:left\">"
        f"{html_text(value)}</td></tr>"
        for label, value in rows
    )
    detail = ""
    if chans:
        detail = "<details><summary>channels</summary><table>" + "".join(
            f"<tr><td>{html_text(n)}</td><td>{html_text(e)}</td><td>{html_text(how)}</td></tr>"
            for n, e, how in chans
        ) + "</table></details>"
    return (
        f"<div class=\"wattprint\"><b>{html_text(head)}</b> <code>{html_text(name)}</code>"
        f"<table>{cells}</table>{detail}</div>"
    )
