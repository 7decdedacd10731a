"""Plain-text views of a run dict (``Run.to_dict()`` or a stored run): summary and list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from wattprint.report.display import platform, platform_notes
from wattprint.report.escape import term_text
from wattprint.report.job import job_label
from wattprint.units import fmt_duration, fmt_energy, fmt_mass, j_to_kwh, utc


def _kwh(joules: float) -> str:
    return f"{j_to_kwh(joules):.3g} kWh"


def intensity_line(intensity: Mapping[str, Any] | None) -> str:
    """``473 g/kWh (WORLD; Ember 2024 …) × PUE 1.0`` with the fallback said plainly."""
    if not intensity:
        return "intensity unknown"
    year = f" {intensity['year']}" if intensity.get("year") else ""
    own = _basis(intensity.get("basis"))
    year += f", {own}" if own else ""
    used = intensity.get("applied") or {}
    if intensity.get("live_source") and used.get("effective_g_per_kwh") is not None:
        # the headline is what the emissions really used, not the annual figure
        basis = _basis(intensity.get("live_basis"))
        text = (
            f"{used['effective_g_per_kwh']:.0f} gCO2e/kWh effective × PUE {intensity.get('pue', 1.0):g} "
            f"({term_text(intensity['location'])}; live values for {used['live_share']:.0%} of the energy "
            f"from {term_text(intensity['live_source'])}{term_text(', ' + basis if basis else '')}; "
            f"the rest at {intensity['g_per_kwh']:.0f} from {term_text(intensity['source'])}{year})"
        )
    else:
        live = f"; live from {intensity['live_source']}" if intensity.get("live_source") else ""
        text = (
            f"{intensity['g_per_kwh']:.0f} gCO2e/kWh × PUE {intensity.get('pue', 1.0):g} "
            f"({term_text(intensity['location'])}{year}; {term_text(intensity['source'])}{term_text(live)})"
        )
    if intensity.get("fallback"):
        text += " [FALLBACK: location unknown]"
    if intensity.get("site"):
        text += f"; site {term_text(intensity['site'])}: {term_text(intensity.get('site_source') or '')}"
    return text


def _basis(basis: Mapping[str, Any] | None) -> str:
    """``lifecycle CO2e`` from a figure's basis (scope and gas; empty when unknown)."""
    return " ".join(str(basis[k]) for k in ("scope", "gas") if basis and basis.get(k))


def summary(run: dict[str, Any]) -> str:
    """The end-of-run summary: duration, energy per channel with method, totals, emissions."""
    lines = []
    status = run.get("status", "")
    exit_part = f", exit {run['exit_code']}" if run.get("exit_code") is not None else ""
    name = " ".join(term_text(run["name"]).split())
    if len(name) > 60:
        name = name[:57] + "..."
    lines.append(
        f"wattprint: run {term_text(run['id'])} '{name}' {term_text(status)} in "
        f"{fmt_duration(run['duration_s'])}{exit_part}"
    )
    channels = list(run["channels"].values())
    plat = platform(channels, run.get("platform"))
    width = max([len(term_text(c["name"])) for c in channels] + [7])
    for c in channels:
        inside = plat is not None and plat["used"] == "whole-machine" and c.get("component") != "psys"
        note = "" if c["in_total"] else "  (inside the whole machine; not added)" if inside else \
            "  (overlaps others; not in total)"
        lines.append(
            f"  {term_text(c['name']):<{width}}  {fmt_energy(c['energy_j']):>10}  "
            f"{term_text(c['method']):<16} ±{c['band']:.0%}{note}"
        )
    lines.append(
        f"  {'total':<{width}}  {fmt_energy(run['energy_j']):>10}  = {_kwh(run['energy_j'])} "
        f"±{(run.get('band') or 0):.0%}"
    )
    lines += _platform_lines(plat, width)
    if run.get("emissions_g") is not None:
        lines.append(
            f"  {'CO2e':<{width}}  {fmt_mass(run['emissions_g']):>10}  location-based, "
            f"{intensity_line(run.get('intensity'))}"
        )
    for alt in (run.get("intensity") or {}).get("alternatives") or []:
        lines.append(f"  {'':<{width}}  {'':>10}  another figure for this site: {term_text(alt)}")
    if run.get("market_emissions_g") is not None:
        it = run.get("intensity") or {}
        lines.append(
            f"  {'':<{width}}  {fmt_mass(run['market_emissions_g']):>10}  market-based, "
            f"{it.get('market_g_per_kwh')} gCO2e/kWh × PUE {it.get('pue', 1.0):g} "
            f"({term_text(it.get('market_source') or 'user factor')})"
        )
    used = (run.get("intensity") or {}).get("applied") or {}
    if used.get("marginal_emissions_g") is not None:
        lines.append(
            f"  {'':<{width}}  {fmt_mass(used['marginal_emissions_g']):>10}  marginal CO2 (not Scope 2), "
            f"{used['marginal_g_per_kwh']:.0f} gCO2/kWh over {used['marginal_share']:.0%} of the energy "
            f"({term_text((run.get('intensity') or {}).get('marginal_source') or 'marginal signal')})"
        )
    lines += _progress_lines(run, width)
    lines += _attribution_lines(run.get("attribution"), width)
    lines += _baseline_lines(run.get("baseline"), width)
    from wattprint.report.foresight import budget_lines, embodied_lines, prediction_lines

    lines += budget_lines(run.get("budget"), width) + prediction_lines(run.get("prediction"), width)
    lines += embodied_lines(run.get("embodied"), width)
    for w in (run.get("intensity") or {}).get("warnings", []):
        lines.append(f"  ! {term_text(w)}")
    for f in run.get("faults", []):
        lines.append(f"  ! {term_text(f['source'])}: {term_text(f['message'])}")
    return "\n".join(lines)


def _platform_lines(plat: dict[str, Any] | None, width: int) -> list[str]:
    """Whole machine vs the components, the rest of the platform, and which figure the total is."""
    if plat is None:
        return []
    if plat["used"] == "whole-machine":
        return [
            f"  {'':<{width}}  total = whole machine ({term_text(plat['channel'])}) {fmt_energy(plat['whole_j'])}; "
            f"components {fmt_energy(plat['components_j'])}; rest of the platform {fmt_energy(plat['rest_j'])} "
            "(PSU losses, fans, disks, NICs, BMC: measured as the difference)"
        ] + [f"  {'':<{width}}  ! {term_text(n)}"  # the fallback's seconds when it fell back; a short run's flag
             for n in platform_notes(plat)[0 if plat["fallback_s"] > 0 else 1:]]
    return [
        f"  {'':<{width}}  total = components {fmt_energy(plat['components_j'])} + rest of the platform "
        f"{fmt_energy(plat['rest_j'])} (modelled ±{plat.get('rest_band', 0):.0%}: PSU losses, fans, disks, NICs; "
        f"no whole-machine sensor); without the model: {fmt_energy(plat['components_j'])}"
    ]


def _progress_lines(run: dict[str, Any], width: int) -> list[str]:
    """``per step  1.2 J  0.1 mg CO2e (40 steps)`` for each unit the run counted."""
    from wattprint.report.sections import per_unit

    rows = per_unit(run.get("progress"), run["energy_j"], run.get("emissions_g"))
    return [
        f"  {'per ' + r['unit']:<{width}}  {fmt_energy(r['energy_j']):>10}  "
        + (f"{fmt_mass(r['emissions_g'])} CO2e " if r["emissions_g"] is not None else "")
        + f"({r['count']:,} {r['unit']}s)"
        for r in rows
    ]


def _attribution_lines(att: dict[str, Any] | None, width: int) -> list[str]:
    if not att:
        return []
    machine = att["machine_energy_j"]
    share = att["energy_j"] / machine if machine > 0 else 0.0
    out = [
        f"  {'process':<{width}}  {fmt_energy(att['energy_j']):>10}  attributed to the tracked process tree "
        f"({share:.0%} of the machine; rest {fmt_energy(att['rest_of_machine_j'])}; "
        f"{att['processes_seen']} process{'es' if att['processes_seen'] != 1 else ''} seen)"
    ]
    for name, c in att["channels"].items():
        out.append(f"  {'':<{width}}    {term_text(name)}: {c['share']:.0%} by {term_text(c['method'])}")
    return out


def _baseline_lines(base: dict[str, Any] | None, width: int) -> list[str]:
    if not base:
        return []
    idle = sum(base["idle_energy_j"].values())
    out = [
        f"  {'dynamic':<{width}}  {fmt_energy(base['dynamic_total_j']):>10}  above the idle baseline "
        f"({fmt_energy(idle)} idle; baseline {term_text(base['source'])}, {base['duration_s']:.1f} s)"
    ]
    out += [f"  ! {term_text(n)}" for n in base.get("notes", [])]
    return out


def run_table(runs: Iterable[dict[str, Any]]) -> str:
    """One line per run, as ``wattprint runs`` prints it."""
    rows = [("ID", "STARTED (UTC)", "DURATION", "ENERGY", "CO2e", "GRID", "STATUS", "NAME")]
    for r in runs:
        it = r.get("intensity") or {}
        grid = term_text(it.get("location") or "-") + (" (fallback)" if it.get("fallback") else "")
        rows.append(
            (
                term_text(r["id"]),
                utc(r["start_utc"]),
                fmt_duration(r["duration_s"] or 0.0),
                fmt_energy(r["energy_j"] or 0.0),
                fmt_mass(r["emissions_g"]) if r.get("emissions_g") is not None else "-",
                grid,
                term_text(r["status"]),
                " ".join(filter(None, (term_text(r["name"]), job_label(r)))),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths)) + "  " + row[-1]
        for row in rows
    )
