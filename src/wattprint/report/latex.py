"""LaTeX report: an impact-statement paragraph and a table, to paste into a paper.

The table uses ``booktabs`` rules (``\\usepackage{booktabs}``); everything
else is plain LaTeX. User text (run names, sources) is escaped.
"""

from __future__ import annotations

from typing import Any

from wattprint.report.display import platform_notes, platform_rows
from wattprint.report.escape import tex_text as tex
from wattprint.report.fmt import band, duration, pct, sig, singular
from wattprint.report.schema import hardware_summary
from wattprint.units import j_to_kwh


def _n(x: float | None, digits: int = 3) -> str:
    return tex(sig(x, digits))


def render(report: dict[str, Any]) -> str:
    """LaTeX source: a comment header, the paragraph, and a ``table`` environment."""
    run, t, em, it, pue, sci = (
        report["run"], report["totals"], report["emissions"], report["intensity"], report["pue"], report["sci"],
    )
    methods = ", ".join(t["methods"]) or "unknown"
    sentences = [
        f"The run \\texttt{{{tex(run['name'])}}} took {tex(duration(run['duration_s']))} on "
        f"{tex(hardware_summary(report))} and used {_n(t['energy_kwh'])}~kWh of electricity "
        f"($\\pm${tex(pct(t['band'], 0).replace(' %', ''))}\\,\\%; {tex(methods)}), measured with "
        f"wattprint {tex(report['hardware']['wattprint_version'])} over the whole machine."
    ]
    if pue["value"] != 1.0:
        sentences.append(
            f"With a power usage effectiveness of {_n(pue['value'])} ({tex(pue['source'])}), the facility "
            f"energy is {_n(t['facility_energy_kwh'])}~kWh."
        )
    if em["location_based_g"] is not None and it:
        year = f", {it['year']}" if it["year"] else ""
        fallback = " (world average: the location was not known)" if it["fallback"] else ""
        sentences.append(
            f"At the grid carbon intensity of {tex(it['location'])}{fallback}, "
            f"{_n(it['g_per_kwh'])}~gCO$_2$e/kWh ({tex(it['source'])}{tex(year)}), this corresponds to "
            f"{_n(em['location_based_g'])}~g CO$_2$e (location-based)"
            + (
                f" and {_n(em['market_based_g'])}~g CO$_2$e market-based "
                f"({_n(em['market_g_per_kwh'])}~gCO$_2$e/kWh, {tex(em['market_source'] or 'contractual factor')})"
                if em["market_based_g"] is not None
                else ""
            )
            + "."
        )
    if report["platform"] is not None:
        sentences += [tex(line) for line in platform_notes(report["platform"])]
    if sci and sci["sci_g_per_unit"] is not None:
        sentences.append(
            f"Its Software Carbon Intensity (ISO/IEC 21031) is {_n(sci['sci_g_per_unit'])}~g CO$_2$e per "
            f"{tex(singular(sci['functional_unit']))} (R = {_n(sci['r'], 6)} {tex(sci['functional_unit'])})."
        )
    lines = [
        f"% wattprint report for run {tex(run['id'])}; needs \\usepackage{{booktabs}}",
        f"% recompute: {tex(report['provenance']['recompute'])}",
        "",
        " ".join(sentences),
        "",
        "\\begin{table}[ht]",
        "\\centering",
        "\\begin{tabular}{lrrlr}",
        "\\toprule",
        "Component & Energy (kWh) & Share & Method & Band \\\\",
        "\\midrule",
    ]
    for c in report["components"]:
        if not c["in_total"]:
            continue
        lines.append(
            f"{tex(c['component'])} & {_n(c['energy_kwh'])} & {tex(pct(c['share']))} & "
            f"{tex(', '.join(c['methods']))} & {tex(band(c['band']))} \\\\"
        )
    lines += [
        "\\midrule",
        f"Total (IT) & {_n(t['energy_kwh'])} & 100.0 \\% & {tex(methods)} & {tex(band(t['band']))} \\\\",
        f"Facility (PUE {_n(pue['value'])}) & {_n(t['facility_energy_kwh'])} & & & \\\\",
    ]
    if report["platform"] is not None:  # the whole machine beside its components
        lines.append("\\midrule")
        lines += [f"{tex(label.capitalize())} & {_n(j_to_kwh(j))} & & {tex(method)} & {tex(band(b))} \\\\"
                  for _, label, j, method, b, _note in platform_rows(report["platform"])]
    if em["location_based_g"] is not None:
        lines.append(f"\\multicolumn{{4}}{{l}}{{CO$_2$e, location-based (g)}} & {_n(em['location_based_g'])} \\\\")
    if em["market_based_g"] is not None:
        lines.append(f"\\multicolumn{{4}}{{l}}{{CO$_2$e, market-based (g)}} & {_n(em['market_based_g'])} \\\\")
    if sci and sci["sci_g_per_unit"] is not None:
        lines.append(
            f"\\multicolumn{{4}}{{l}}{{SCI (g CO$_2$e per {tex(singular(sci['functional_unit']))})}} & "
            f"{_n(sci['sci_g_per_unit'])} \\\\"
        )
    lines += [
        "\\bottomrule",
        "\\end{tabular}",
        f"\\caption{{Energy and emissions of \\texttt{{{tex(run['name'])}}} (wattprint report schema "
        f"{tex(report['schema_version'])}).}}",
        "\\end{table}",
        "",
    ]
    return "\n".join(lines)
