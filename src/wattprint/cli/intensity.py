"""``wattprint intensity`` and ``wattprint regions``: what grid figure would be used, and why.

``intensity`` runs the same resolver as ``wattprint run`` (flags → env → config → cloud
metadata → world average) and prints the figure, its source and vintage, the PUE and
the whole chain, so a user can check the setting before a long job. ``regions [TEXT]``
lists the known grid and cloud-region codes, filtered by TEXT (case-insensitive, on code
and name).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from wattprint.cli.common import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wattprint.settings import Settings


def register(subparsers: Any) -> None:
    """Add the ``intensity`` and ``regions`` commands."""
    p = subparsers.add_parser(
        "intensity", help="show the grid intensity that would be used, from where, and why",
        description="Show the grid carbon intensity, PUE and market factor a run would use, "
                    "where each comes from, its vintage, and every step of the location chain.")
    p.add_argument("--country", help="ISO 3166 country code of the grid (e.g. FR, US)")
    p.add_argument("--region", help="sub-national grid code (e.g. US-CA, AU-NSW); "
                   "see 'wattprint regions'")
    p.add_argument("--cloud", metavar="PROVIDER:REGION",
                   help="cloud region, e.g. aws:eu-west-3, gcp:europe-west1, azure:westeurope")
    p.add_argument("--site", help="where the machine runs: personal, datacentre, aws, gcp or "
                   "azure (gives the PUE; default: detected)")
    p.add_argument("--pue", type=float, help="power usage effectiveness of the data centre (>= 1)")
    p.add_argument("--market-g-per-kwh", type=float, dest="market_g_per_kwh", metavar="G",
                   help="contractual emission factor (gCO2e/kWh) for a market-based figure")
    p.add_argument("--no-cloud-probe", action="store_true",
                   help="do not ask cloud instance metadata where this machine is")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_intensity)

    r = subparsers.add_parser(
        "regions", help="list known grid and cloud-region codes (filtered by TEXT)",
        description="List the grid codes (countries, sub-national regions and eGRID "
                    "subregions, the providers' own cloud-region figures, WORLD) and cloud "
                    "regions wattprint knows, with their intensity, year, source and basis. "
                    "TEXT filters on code and name, case-insensitive (e.g. 'france', 'US-', "
                    "'aws:').")
    r.add_argument("text", nargs="?", default="", metavar="TEXT", help="filter text")
    r.set_defaults(func=cmd_regions)


def cmd_intensity(args: argparse.Namespace) -> int:
    """Resolve and print the intensity a run would use."""
    from wattprint.cli.options import load_settings
    from wattprint.intensity.base import LocationError
    from wattprint.intensity.resolve import resolve

    settings = load_settings(args)
    try:
        it = resolve(settings=settings)
    except LocationError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(it.to_dict(), indent=2))
        return 0
    print("\n".join(_intensity_lines(it, settings)))
    return 0


def _intensity_lines(it: Any, settings: Settings) -> list[str]:
    from wattprint.intensity.static import basis_text

    year = f", {it.year}" if it.year else ""
    lines = [
        f"grid intensity  {it.g_per_kwh:.2f} gCO2e/kWh  ({it.location}{year}"
        + (", FALLBACK" if it.fallback else "") + ")",
        f"place           {it.place or 'unknown'}",
        f"basis           {basis_text(it.basis)}",
        f"source          {it.source}",
        f"site            {it.site}  ({it.site_source})",
        f"PUE             {it.pue:g}  ({_pue_text(it)})",
        f"effective       {it.g_per_kwh * it.pue:.2f} gCO2e per kWh drawn by the machine",
    ]
    for alt in it.alternatives:
        lines.append(f"alternative     {alt}")
    if it.market_g_per_kwh is not None:
        lines.append(f"market-based    {it.market_g_per_kwh:g} gCO2e/kWh × PUE {it.pue:g}  "
                     f"({it.market_source})")
    lines.append(f"live            {_live_line(it.location, settings)}")
    lines.append("chain:")
    lines += [f"  {i}. {step}" for i, step in enumerate(it.chain, 1)]
    for w in it.warnings:
        lines.append(f"warning: {w}")
    return lines


def _pue_text(it: Any) -> str:
    """Where the PUE comes from, without repeating the site line above it."""
    from wattprint.intensity.static import pue_defaults

    d = pue_defaults().get(it.site or "")
    if d is None or it.pue_source.startswith("set by"):
        return str(it.pue_source)
    return f"the {it.site} default: {d.source}"


def _live_line(location: str, settings: Settings) -> str:
    """Which live provider a run would ask at its end (nothing is fetched here)."""
    from wattprint.intensity.live import choose_provider

    try:
        provider = choose_provider(location, settings)
    except ValueError as exc:
        return f"misconfigured: {exc}"
    if provider is None:
        return "none configured (the embedded yearly figure is used)"
    what = "marginal rate: a figure of its own" if provider.signal == "marginal" else "average"
    return (f"{provider.source} ({what}, every {provider.resolution_s / 60:g} min; fetched as a run "
            "goes and at its end)")


def cmd_regions(args: argparse.Namespace) -> int:
    """List known codes matching TEXT."""
    from wattprint.intensity import static

    grids, clouds = static.search(args.text)
    if not grids and not clouds:
        print(f"wattprint: no known region matches '{args.text}' "
              "(try a country name, an ISO code, 'US-' or 'aws:')", file=sys.stderr)
        return 1
    out = []
    if grids:
        w = max(len(g.code) for g in grids)
        out.append(f"{'CODE':<{w}} {'gCO2e/kWh':>9}  {'YEAR':<4}  NAME  [basis; source]")
        for g in grids:
            year = str(g.year) if g.year else "-"
            out.append(f"{g.code:<{w}} {g.g_per_kwh:>9.2f}  {year:<4}  {g.name}  "
                       f"[{g.basis_text()}; {g.source}]")
    if clouds:
        if out:
            out.append("")
        w = max(len(c.grid) for c in clouds)
        out.append(f"{'CLOUD REGION':<30} {'GRID':<{w}} {'gCO2e/kWh':>9}  LOCATION")
        for c in clouds:
            cloud_grid = static.grid(c.grid)
            val = f"{cloud_grid.g_per_kwh:9.2f}" if cloud_grid else "        ?"
            out.append(f"{c.code:<30} {c.grid:<{w}} {val}  {c.location}")
        out.append("(grid figures: source and basis in the rows above or "
                   "`wattprint regions CODE`)")
    print("\n".join(out))
    return 0
