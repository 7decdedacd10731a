"""The report's methodology statement: how each figure was obtained, generated from the report."""

from __future__ import annotations

from typing import Any

from wattprint.report.display import platform

METHOD_ORDER = ("counter", "power-integrated", "modelled")
METHOD_TEXT = {
    "counter": "read from a hardware energy counter (differences of cumulative totals, "
    "wrap-corrected)",
    "power-integrated": "instantaneous power readings integrated over time by the sampler",
    "modelled": "estimated from a power model (e.g. rated TDP x utilisation), not measured",
}


def methodology(report: dict[str, Any]) -> list[str]:
    """Plain statements of how each figure was obtained, generated from the report itself."""
    return [
        *_energy(report),
        *_emissions(report),
        "Not included: " + "; ".join(report["boundary"]["excluded"]) + ".",
    ]


def _energy(report: dict[str, Any]) -> list[str]:
    """Methods per channel, overlaps, band, scope, attribution, baseline, sampling."""
    out: list[str] = []
    t = report["totals"]
    by_method: dict[str, list[str]] = {}
    for c in report["channels"]:
        if c["in_total"]:
            by_method.setdefault(c["method"], []).append(c["name"])
    for m in [*METHOD_ORDER, *sorted(set(by_method) - set(METHOD_ORDER))]:
        if m in by_method:
            out.append(
                f"Energy of {', '.join(by_method[m])}: {METHOD_TEXT.get(m, m)}."
            )
    if report["boundary"]["not_summed"]:
        out.append(
            f"Not added to the total because they overlap other channels: "
            f"{', '.join(report['boundary']['not_summed'])}."
        )
    out += _whole_machine(report["channels"])
    out.append(
        f"Uncertainty: the total carries a band of ±{t['band'] * 100:.0f} %, the energy-weighted mean "
        "of the per-channel bands (conservative: it assumes channel errors can lean the same way)."
    )
    if report["boundary"]["scope"] == "whole-machine":
        out.append(
            "Scope: the whole machine (every process running during the span), not only the "
            "tracked work; idle power is included."
        )
    a = report["attribution"]
    if a:
        how = f" by {', '.join(a['methods'])}" if a["methods"] else ""
        out.append(
            f"Attribution: {a['share_of_machine'] * 100:.1f} % of the machine's energy is attributed to the "
            f"tracked process tree{how}; the totals above stay whole-machine."
        )
    bl = report["baseline"]
    if bl:
        out.append(
            f"Idle baseline ({bl['source'] or 'measured'}): {bl['idle_power_w']:.1f} W idle, so "
            f"{bl['idle_energy_kwh']:.4g} kWh idle and {bl['dynamic_energy_kwh']:.4g} kWh dynamic energy."
        )
    cov = report["coverage"]
    if cov["intervals"]:
        out.append(
            f"Sampling: {cov['intervals']} timeline intervals of about {cov['interval_s']:g} s cover "
            f"{cov['fraction'] * 100:.1f} % of the {cov['duration_s']:.1f} s span."
        )
    return out


def _whole_machine(channels: list[dict[str, Any]]) -> list[str]:
    """Which figure the total is: the whole machine as metered, components + a modelled rest, or components."""
    plat = platform(channels)
    if plat is None:  # components only (as every run before whole-machine sensors)
        return []
    if plat["used"] == "whole-machine":
        return [f"Total: the whole machine as metered by {plat['channel']} (a wall-side reading: power supply, "
                f"fans, disks and network cards included). The components ({plat['components_j']:.4g} J) are "
                f"inside it and shown beside it, not added; the difference, {plat['rest_j']:.4g} J, is the rest "
                "of the platform."]
    return [f"Total: the components ({plat['components_j']:.4g} J) plus the rest of the platform modelled as "
            f"{plat['rest_j']:.4g} J ({plat['channel']}: 80 PLUS power-supply losses plus a constant for fans, "
            f"disks and network cards, ±{plat.get('rest_band', 0) * 100:.0f} %), as no whole-machine meter "
            "was read."]


def _emissions(report: dict[str, Any]) -> list[str]:
    """Intensity and its location chain, PUE, market-based emissions, SCI."""
    out: list[str] = []
    it = report["intensity"]
    pue = report["pue"]
    if it:
        year = f", {it['year']}" if it["year"] else ""
        fallback = (
            " The location was not known, so the world average was used (FALLBACK)." if it["fallback"] else ""
        )
        hourly = (
            f" Live values from {it['live_source']} ({it['hourly_points']} at the provider's own "
            "resolution) replace the annual average where they cover, each interval priced by its "
            "time overlap with them"
            + (f"; they priced {it['live_share']:.1%} of the energy." if it.get("live_share") is not None
               else ".")
            if it["hourly_points"] and it.get("live_source")
            else ""
        )
        out.append(
            f"Location-based emissions: energy x PUE x grid intensity of "
            f"{it['location']}, {it['g_per_kwh']:g} gCO2e/kWh ({it['source']}{year}), summed per "
            f"timeline interval.{hourly}{fallback}"
        )
        out.append(_basis_sentence(it.get("basis") or {}, it["chain"]))
        if it["chain"]:
            out.append(f"Location chain: {'; '.join(it['chain'])}.")
    else:
        out.append("Emissions: not computed (no grid intensity recorded for this run).")
    out.append(f"PUE {pue['value']:g}: {pue['source']}.")
    em = report["emissions"]
    if em["market_based_g"] is not None:
        out.append(
            f"Market-based emissions: energy x PUE {pue['value']:g} x {em['market_g_per_kwh']:g} gCO2e/kWh, the "
            f"contractual factor given by the user ({em['market_source'] or 'no source named'})."
        )
    else:
        out.append(
            "Market-based emissions: not reported (no contractual emission factor was given; "
            "use --market-g-per-kwh)."
        )
    sci = report["sci"]
    if sci:
        share = ", times the process tree's share of the machine" if sci.get("scope") == "process" else ""
        out.append(
            f"SCI per {sci['standard']}: (E x I + M) / R with E the facility energy (IT energy x PUE{share}) "
            f"in kWh, I the location-based intensity in gCO2e/kWh, M = {sci['m_g']:g} g embodied "
            f"emissions, R = {sci['r']:g} {sci['functional_unit']}; market instruments are excluded."
        )
    return out


def _basis_sentence(basis: dict[str, str], chain: list[str]) -> str:
    """What the grid factor counts (its recorded basis; for a run stored before the basis
    was, the ``grid ...`` step of its chain) and whether that is the GHG Protocol's Scope 2
    location-based method."""
    scope = basis.get("scope")
    if scope is None:
        line = " " + next((c for c in chain if c.startswith("grid ")), "").replace(",", " ") + " "
        scope = "lifecycle" if " lifecycle " in line else "direct" if " direct " in line else None
    if scope == "lifecycle":
        return ("The grid factor is a lifecycle one (it also counts the upstream emissions of "
                "fuels and plants), so this is not a GHG Protocol Scope 2 figure, which counts "
                "direct emissions at generation only; a direct factor for the same grid is lower.")
    if scope == "direct":
        return ("The grid factor counts direct emissions at generation, the basis of the GHG "
                "Protocol Scope 2 location-based method.")
    return ("The basis of the grid factor (lifecycle or direct) was not recorded with this run, "
            "so whether it matches the GHG Protocol Scope 2 location-based method is unknown.")
