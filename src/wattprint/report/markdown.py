"""Markdown report: a summary table and the methodology, ready for a README or a paper appendix.

Renders from the JSON report (:func:`wattprint.report.schema.build_report`),
never from the run directly, so every format shows the same figures. Each
section is one small function that returns its lines (ending with a blank
line), in page order; :func:`render` strings them together.
"""

from __future__ import annotations

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
from wattprint.report.escape import md_code, md_text
from wattprint.report.fmt import band, duration, location_text, pct, sig, singular
from wattprint.report.schema import SCHEMA_VERSION, hardware_summary
from wattprint.units import j_to_kwh


def _location(it: dict[str, Any] | None) -> str:
    """:func:`location_text` with the provider's strings escaped (our own brackets kept)."""
    if not it:
        return location_text(it)
    keys = ("location", "source", "live_source")
    return location_text({**it, **{k: md_text(it[k]) for k in keys if it.get(k)}})


def _facts(report: dict[str, Any]) -> list[str]:
    """The title and the two-column table of what was run, where and by what."""
    run, hw = report["run"], report["hardware"]
    facts = [  # values already Markdown
        ("Run", f"{md_code(run['id'], table=True)} ({md_text(status_text(run))})"),
        ("Started (UTC)", md_text(run["start_utc"] or "-")),
        ("Duration", duration(run["duration_s"])),
        ("Host", md_text(hw["host"] or "-")),
        ("Hardware", md_text(hardware_summary(report))),
    ]
    if run["command"]:
        facts.append(("Command", md_code(" ".join(run["command"]), table=True)))
    if run["tags"]:
        facts.append(("Tags", md_text(", ".join(f"{k}={v}" for k, v in run["tags"].items()))))
    facts.append(("Scope", md_text(report["boundary"]["scope"])))
    facts.append(("Measured by", md_text(f"wattprint {hw['wattprint_version']} (report schema {SCHEMA_VERSION})")))
    return [f"# Energy report: {md_text(run['name'])}", "", "| | |", "|---|---|",
            *[f"| {k} | {v} |" for k, v in facts], ""]


def _components(report: dict[str, Any]) -> list[str]:
    t, em = report["totals"], report["emissions"]
    out = [
        "## Energy and emissions", "",
        "| Component | Energy (kWh) | Share | Mean power (W) | Peak power (W) | Method | Band | CO2e (g) |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for c in report["components"]:
        out.append(
            f"| {md_text(component_label(c['component'], c['in_total']))} | {sig(c['energy_kwh'])} | "
            f"{pct(c['share'])} | {sig(c['mean_power_w'])} | "
            f"{sig(c['peak_power_w'])} | {md_text(', '.join(c['methods']))} | {band(c['band'])} | "
            f"{sig(c['emissions_g'])} |"
        )
    out.append(
        f"| **Total (IT)** | **{sig(t['energy_kwh'])}** | 100.0 % | {sig(t['mean_power_w'])} | "
        f"{sig(t['peak_power_w'])} | {md_text(', '.join(t['methods']))} | {band(t['band'])} | "
        f"**{sig(em['location_based_g'])}** |"
    )
    return [*out, ""]


def _platform(report: dict[str, Any]) -> list[str]:
    """The whole machine beside the components, the rest of the platform, and which figure the total is."""
    plat = report["platform"]
    if plat is None:
        return []
    out = ["## Whole machine", "", "| Figure | Energy (kWh) | Energy (J) | Method | Band | Note |",
           "|---|---:|---:|---|---:|---|"]
    for _, label, j, method, b, note in platform_rows(plat):
        out.append(f"| {md_text(label)} | {sig(j_to_kwh(j))} | {sig(j)} | {md_text(method)} | {band(b)} | "
                   f"{md_text(note)} |")
    out.append("")
    for line in platform_notes(plat):
        out += [md_text(line), ""]
    return out


def _headline(report: dict[str, Any]) -> list[str]:
    """The bullets under the components table: energy, both emissions figures and the SCI."""
    t, em, it, pue, sci = report["totals"], report["emissions"], report["intensity"], report["pue"], report["sci"]
    bullets = [
        f"Energy: {sig(t['energy_kwh'])} kWh (range {sig(t['energy_low_kwh'])} to "
        f"{sig(t['energy_high_kwh'])} kWh); facility energy with PUE {sig(pue['value'])}: "
        f"{sig(t['facility_energy_kwh'])} kWh.",
    ]
    if em["location_based_g"] is not None:
        bullets.append(
            f"Emissions, location-based: **{sig(em['location_based_g'])} g CO2e** (range "
            f"{sig(em['location_based_low_g'])} to {sig(em['location_based_high_g'])} g), grid "
            f"{_location(it)}."
        )
    else:
        bullets.append("Emissions: not computed (no grid intensity recorded).")
    if em["market_based_g"] is not None:
        bullets.append(
            f"Emissions, market-based: {sig(em['market_based_g'])} g CO2e at "
            f"{sig(em['market_g_per_kwh'])} gCO2e/kWh × PUE {sig(pue['value'])} "
            f"({md_text(em['market_source'] or 'user factor')})."
        )
    else:
        bullets.append("Emissions, market-based: not reported (no contractual factor given).")
    if em.get("marginal_g") is not None:
        bullets.append(
            f"Emissions, marginal (not a Scope 2 figure): {sig(em['marginal_g'])} g CO2 over "
            f"{pct(em['marginal_share'] or 0.0)} of the energy ({md_text(em['marginal_source'] or 'marginal signal')})."
        )
    if sci:
        bullets.append(
            f"SCI (ISO/IEC 21031): **{sig(sci['sci_g_per_unit'])} g CO2e per "
            f"{md_text(singular(sci['functional_unit']))}** "
            f"(E = {sig(sci['e_kwh'])} kWh, I = {sig(sci['i_g_per_kwh'])} gCO2e/kWh, "
            f"M = {sig(sci['m_g'])} g, R = {sig(sci['r'], 6)} {md_text(sci['functional_unit'])})."
        )
    for pu in report.get("per_unit") or []:
        g = f", {sig(pu['emissions_g'])} g CO2e" if pu["emissions_g"] is not None else ""
        bullets.append(f"Per {pu['unit']} ({pu['count']:,} counted): {sig(pu['energy_j'])} J{g}.")
    return [*(f"- {b}" for b in bullets), ""]


def _channels(report: dict[str, Any]) -> list[str]:
    out = ["## Channels", "", "| Channel | Component | Method | Band | Energy (kWh) | Detail |",
           "|---|---|---|---:|---:|---|"]
    out += [
        f"| {md_code(c['name'], table=True)} | {md_text(c['component'])} | {md_text(c['method'])} | "
        f"{band(c['band'])} | {sig(c['energy_kwh'])} | {md_text(c['detail'])} |"
        for c in report["channels"]
    ]
    return [*out, ""]


def _windows(report: dict[str, Any]) -> list[str]:
    top = top_windows(report)
    if not top:
        return []
    out = [f"## Windows (top {len(top)} of {len(report['window_groups'])} by energy)", "",
           "| Window | Calls | Energy (kWh) | Mean per call (kWh) | Time (total) | Share of run | CO2e (g) |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    out += [
        f"| {md_text(g['name'])} | {g['calls']} | {sig(g['energy_kwh'])} | {sig(j_to_kwh(g['mean_j']))} | "
        f"{duration(g['duration_s'])} | {pct(g['share_of_run'])} | {sig(g['emissions_g'])} |"
        for g in top
    ]
    return [*out, ""]


def _attribution(report: dict[str, Any]) -> list[str]:
    a = report["attribution"]
    if not a:
        return []
    tree = (f"- Process tree: {sig(a['energy_kwh'])} kWh, {pct(a['share_of_machine'])} of the machine"
            + (f", {sig(a['emissions_g'])} g CO2e" if a["emissions_g"] is not None else "")
            + (f" ({a['processes_seen']} processes seen)" if a["processes_seen"] is not None else "") + ".")
    return ["## Attribution to the tracked process tree", "", tree,
            *(f"- {md_code(c['name'])}: {pct(c['share'])} by {md_text(c['method'])}" for c in a["channels"]), ""]


def _baseline(report: dict[str, Any]) -> list[str]:
    bl = report["baseline"]
    if not bl:
        return []
    return ["## Idle and dynamic energy", "",
            f"- Idle baseline: {sig(bl['idle_power_w'])} W ({md_text(bl['source'] or 'measured')}"
            + (f", {bl['measured_utc']}" if bl["measured_utc"] else "") + ").",
            f"- Idle energy: {sig(bl['idle_energy_kwh'])} kWh; "
            f"dynamic energy: {sig(bl['dynamic_energy_kwh'])} kWh.",
            *(f"- {md_text(n)}" for n in bl["notes"]), ""]


def _warnings(report: dict[str, Any]) -> list[str]:
    warnings = warning_lines(report)
    if not warnings:
        return []
    return ["## Warnings", "", *(f"- {md_text(w)}" for w in warnings), ""]


def _methodology(report: dict[str, Any]) -> list[str]:
    return ["## Methodology", "", *(f"- {md_text(m)}" for m in report["methodology"]), ""]


def _equivalents(report: dict[str, Any]) -> list[str]:
    eqs = report["equivalents"]
    if not eqs:
        return []
    return ["## Everyday equivalents", "",
            *(f"- {sig(q['value'])} {q['unit']} {q['label']} [{i}]" for i, q in enumerate(eqs, 1)),
            "", "Sources:", "",
            *(f"{i}. {q['source']}: {q['factor_text']}. <{q['url']}>" for i, q in enumerate(eqs, 1)), ""]


SECTIONS: tuple[Callable[[dict[str, Any]], list[str]], ...] = (
    _facts, _components, _headline, _platform, _channels, _windows, _attribution, _baseline, _warnings, _methodology,
    _equivalents,
)


def render(report: dict[str, Any]) -> str:
    """The Markdown text of a report (ends with a newline)."""
    out = [line for section in SECTIONS for line in section(report)]
    out.append(f"_Recompute: {md_code(report['provenance']['recompute'])}_")
    return "\n".join(out) + "\n"
