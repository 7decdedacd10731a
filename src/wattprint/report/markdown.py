"""Markdown report: a summary table and the methodology, ready for a README or a paper appendix.

Renders from the JSON report (:func:`wattprint.report.schema.build_report`),
never from the run directly, so every format shows the same figures.
"""

from __future__ import annotations

from typing import Any

from wattprint.report.escape import md_code, md_text
from wattprint.report.fmt import band, duration, location_text, pct, sig, singular
from wattprint.report.schema import SCHEMA_VERSION, hardware_summary
from wattprint.units import j_to_kwh

TOP_WINDOWS = 10


def _location(it: dict[str, Any] | None) -> str:
    """:func:`location_text` with the provider's strings escaped (our own brackets kept)."""
    if not it:
        return location_text(it)
    keys = ("location", "source", "live_source")
    return location_text({**it, **{k: md_text(it[k]) for k in keys if it.get(k)}})


def render(report: dict[str, Any]) -> str:
    """The Markdown text of a report (ends with a newline)."""
    run, hw, t = report["run"], report["hardware"], report["totals"]
    em, it, pue = report["emissions"], report["intensity"], report["pue"]
    out: list[str] = [f"# Energy report: {md_text(run['name'])}", ""]

    status = run["status"] + (f", exit {run['exit_code']}" if run["exit_code"] is not None else "")
    facts = [  # values already Markdown
        ("Run", f"{md_code(run['id'], table=True)} ({md_text(status)})"),
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
    out += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in facts] + [""]

    out += ["## Energy and emissions", ""]
    out += [
        "| Component | Energy (kWh) | Share | Mean power (W) | Peak power (W) | Method | Band | CO2e (g) |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for c in report["components"]:
        name = c["component"] if c["in_total"] else f"{c['component']} (overlaps, not summed)"
        out.append(
            f"| {md_text(name)} | {sig(c['energy_kwh'])} | {pct(c['share'])} | {sig(c['mean_power_w'])} | "
            f"{sig(c['peak_power_w'])} | {md_text(', '.join(c['methods']))} | {band(c['band'])} | "
            f"{sig(c['emissions_g'])} |"
        )
    out.append(
        f"| **Total (IT)** | **{sig(t['energy_kwh'])}** | 100.0 % | {sig(t['mean_power_w'])} | "
        f"{sig(t['peak_power_w'])} | {md_text(', '.join(t['methods']))} | {band(t['band'])} | "
        f"**{sig(em['location_based_g'])}** |"
    )
    out.append("")
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
            f"{sig(em['market_g_per_kwh'])} gCO2e/kWh ({md_text(em['market_source'] or 'user factor')})."
        )
    else:
        bullets.append("Emissions, market-based: not reported (no contractual factor given).")
    sci = report["sci"]
    if sci:
        bullets.append(
            f"SCI (ISO/IEC 21031): **{sig(sci['sci_g_per_unit'])} g CO2e per "
            f"{md_text(singular(sci['functional_unit']))}** "
            f"(E = {sig(sci['e_kwh'])} kWh, I = {sig(sci['i_g_per_kwh'])} gCO2e/kWh, "
            f"M = {sig(sci['m_g'])} g, R = {sig(sci['r'], 6)} {md_text(sci['functional_unit'])})."
        )
    out += [f"- {b}" for b in bullets] + [""]

    out += ["## Channels", "", "| Channel | Component | Method | Band | Energy (kWh) | Detail |",
            "|---|---|---|---:|---:|---|"]
    for c in report["channels"]:
        out.append(
            f"| {md_code(c['name'], table=True)} | {md_text(c['component'])} | {md_text(c['method'])} | "
            f"{band(c['band'])} | {sig(c['energy_kwh'])} | {md_text(c['detail'])} |"
        )
    out.append("")

    groups = report["window_groups"]
    if groups:
        top = groups[:TOP_WINDOWS]
        out += [f"## Windows (top {len(top)} of {len(groups)} by energy)", "",
                "| Window | Calls | Energy (kWh) | Mean per call (kWh) | Time (total) | Share of run | CO2e (g) |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for g in top:
            out.append(
                f"| {md_text(g['name'])} | {g['calls']} | {sig(g['energy_kwh'])} | {sig(j_to_kwh(g['mean_j']))} | "
                f"{duration(g['duration_s'])} | {pct(g['share_of_run'])} | {sig(g['emissions_g'])} |"
            )
        out.append("")

    a = report["attribution"]
    if a:
        out += ["## Attribution to the tracked process tree", "",
                f"- Process tree: {sig(a['energy_kwh'])} kWh, {pct(a['share_of_machine'])} of the machine"
                + (f", {sig(a['emissions_g'])} g CO2e" if a["emissions_g"] is not None else "")
                + (f" ({a['processes_seen']} processes seen)" if a["processes_seen"] is not None else "") + "."]
        out += [f"- {md_code(c['name'])}: {pct(c['share'])} by {md_text(c['method'])}" for c in a["channels"]]
        out.append("")
    bl = report["baseline"]
    if bl:
        out += ["## Idle and dynamic energy", "",
                f"- Idle baseline: {sig(bl['idle_power_w'])} W ({md_text(bl['source'] or 'measured')}"
                + (f", {bl['measured_utc']}" if bl["measured_utc"] else "") + ").",
                f"- Idle energy: {sig(bl['idle_energy_kwh'])} kWh; "
                f"dynamic energy: {sig(bl['dynamic_energy_kwh'])} kWh."]
        out += [f"- {md_text(n)}" for n in bl["notes"]]
        out.append("")

    warnings = list((it or {}).get("warnings", [])) + [
        f"{f['source']}: {f['message']}" + (f" ({f['utc']})" if f["utc"] else "") for f in report["faults"]
    ]
    if warnings:
        out += ["## Warnings", ""] + [f"- {md_text(w)}" for w in warnings] + [""]

    out += ["## Methodology", ""] + [f"- {md_text(m)}" for m in report["methodology"]] + [""]

    if report["equivalents"]:
        out += ["## Everyday equivalents", ""]
        for i, e in enumerate(report["equivalents"], 1):
            out.append(f"- {sig(e['value'])} {e['unit']} {e['label']} [{i}]")
        out += ["", "Sources:", ""]
        for i, e in enumerate(report["equivalents"], 1):
            out.append(f"{i}. {e['source']}: {e['factor_text']}. <{e['url']}>")
        out.append("")
    out.append(f"_Recompute: {md_code(report['provenance']['recompute'])}_")
    return "\n".join(out) + "\n"
