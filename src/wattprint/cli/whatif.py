"""``wattprint whatif RUN``: a stored run's emissions on other grids, PUEs and start times, and
its time and energy modelled on other GPU models (``--gpu``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from wattprint.cli.common import UsageError
from wattprint.cli.options import add_db, open_store

# compared when no scenario is given: low-, mid- and high-carbon grids, each with the
# figure wattprint ships for it (`wattprint regions` lists every code)
SAMPLE_COUNTRIES = ("SE", "FR", "GB", "DE", "US", "CN", "IN")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "whatif",
        help="recompute a stored run's emissions for other grids, PUEs, start times or GPU models",
        description="The measured energy stays; the grid figure, PUE or start time change. "
        "Each option may be repeated; each value is one row. Without options, a sample of grids. "
        "--gpu models the run on another GPU model from datasheet figures (a wide band, labelled modelled).",
    )
    p.add_argument("run", nargs="?", default="last", help="run id, unique prefix, or 'last' (default)")
    p.add_argument("--country", action="append", default=[], help="a country's grid, e.g. SE")
    p.add_argument("--region", action="append", default=[], help="a sub-national grid, e.g. US-CA")
    p.add_argument("--cloud", action="append", default=[], metavar="PROVIDER:REGION",
                   help="a cloud region, e.g. gcp:europe-north1 (its grid and the provider's PUE; "
                   "--country and --region keep the run's own PUE)")
    p.add_argument("--pue", action="append", default=[], type=float,
                   help="the run's own grid with another PUE, e.g. 1.1")
    p.add_argument("--shift", action="append", default=[], metavar="HOURS", type=float,
                   help="the run started HOURS later (negative: earlier); needs an hourly series")
    p.add_argument("--gpu", action="append", default=[], metavar="MODEL",
                   help="the run on another GPU model, e.g. H100-SXM ('all': every model in the table; "
                   "--list-gpus lists them): time and energy modelled from datasheet TDP and peak throughput")
    p.add_argument("--precision", default="bf16", choices=("bf16", "fp16", "tf32", "fp32"),
                   help="the precision the run's GPU work used, whose peak throughput is compared (default bf16)")
    p.add_argument("--list-gpus", action="store_true", help="list the GPU models --gpu knows, with their figures")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    add_db(p)
    p.set_defaults(func=handle)


def _scenarios(args: argparse.Namespace, own: Any) -> list[Any]:
    from wattprint.intensity.resolve import resolve
    from wattprint.report.whatif import Scenario
    from wattprint.settings import finite

    out = []
    asked = [("country", c) for c in args.country] + [("region", r) for r in args.region]
    asked += [("cloud", c) for c in args.cloud]
    if not asked and not args.pue and not args.shift and not args.gpu:
        asked = [("country", c) for c in SAMPLE_COUNTRIES]
    for kind, value in asked:
        if kind == "cloud":
            provider, sep, region = value.partition(":")
            if not sep or not provider or not region:
                raise UsageError(f"--cloud {value!r}: give PROVIDER:REGION, e.g. aws:eu-west-3")
            it = resolve(cloud_provider=provider, cloud_region=region, probe_cloud=False)
        else:
            # the same site on another grid: only the grid changes, the run's PUE stays
            it = resolve(**{kind: value}, probe_cloud=False).replace(pue=own.pue, pue_source=own.pue_source)
        out.append(Scenario(f"{kind} {value}", it))
    for pue in args.pue:
        if finite(pue, 1.0, 3.0) is None:
            raise UsageError(f"--pue {pue:g}: a PUE is a number at least 1 and at most 3")
        out.append(Scenario(f"PUE {pue:g}", own.replace(pue=pue, pue_source=f"--pue {pue:g}")))
    for hours in args.shift:
        if finite(hours, -8760.0, 8760.0) is None:
            raise UsageError(f"--shift {hours:g}: a number of hours within a year either way")
        out.append(Scenario(f"start {hours:+g} h", own, hours * 3600.0))
    return out


def handle(args: argparse.Namespace) -> int:
    from wattprint.errors import LocationError, StoreError
    from wattprint.intensity.base import Intensity
    from wattprint.report.whatif import whatif

    if args.list_gpus:
        print(_models_table())
        return 0
    store = open_store(args)
    try:
        run = store.get_run(args.run, timeline=False, windows=False)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    grid_asked = bool(args.country or args.region or args.cloud or args.pue or args.shift or not args.gpu)
    if grid_asked and not run.get("intensity"):
        raise UsageError(f"run {run['id'][:8]} has no intensity stored (it was killed before it was priced)")
    try:
        scenarios = _scenarios(args, Intensity.from_dict(run["intensity"])) if grid_asked else []
    except LocationError as exc:
        raise UsageError(str(exc)) from None
    gpu_rows = None
    if args.gpu:
        gpu_rows = _gpu_rows(run, args.gpu, args.precision)
    rows = whatif(run, lambda: store.iter_timeline(run["id"]), scenarios) if scenarios else []
    if args.json:
        out: dict[str, Any] = {"run": run["id"], "energy_j": run["energy_j"], "rows": rows}
        if gpu_rows is not None:
            out["gpu_rows"] = gpu_rows
        json.dump(out, sys.stdout, indent=2, ensure_ascii=True)
        print()
        return 0
    if rows:
        print(_table(run, rows))
    if gpu_rows is not None:
        print(("\n" if rows else "") + _gpu_table(run, gpu_rows))
    return 0


def _table(run: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    from wattprint.report.escape import term_text as t
    from wattprint.units import fmt_energy, fmt_mass

    band = float(run.get("band") or 0.0)
    lines = [f"What if: run {t(run['id'][:8])} {t(run['name'])}, {fmt_energy(run['energy_j'])} measured "
             f"(±{band:.0%}); only the factors change"]
    head = f"  {'scenario':<24} {'grid':<12} {'g/kWh':>8} {'PUE':>5} {'CO2e':>11} {'range':>23} {'change':>8}"
    lines.append(head)
    for r in rows:
        change = "" if r["change"] is None else f"{r['change']:+.0%}"
        rng = f"{fmt_mass(r['low_g'])} – {fmt_mass(r['high_g'])}"
        lines.append(f"  {t(r['scenario'])[:24]:<24} {t(r['location'])[:12]:<12} {r['g_per_kwh']:>8.1f} "
                     f"{r['pue']:>5.2f} {fmt_mass(r['emissions_g']):>11} {rng:>23} {change:>8}")
        if r["note"] and r["scenario"] != "as measured":
            lines.append(f"      note: {t(r['note'])}")
    lines.append("Sources:")
    for src in dict.fromkeys(f"{r['location']}: {r['source']}; PUE {r['pue']:g} {r['pue_source']}" for r in rows):
        lines.append(f"  {t(src)}")
    lines.append("Ranges carry the energy's measurement band; the grid figures' own uncertainty is not included.")
    return "\n".join(lines)


def _gpu_rows(run: dict[str, Any], names: list[str], precision: str) -> list[dict[str, Any]]:
    from wattprint.errors import ReportError
    from wattprint.report.whatif_gpu import find_model, gpu_models, gpu_whatif

    targets = []
    for name in names:
        found = list(gpu_models()) if name.strip().lower() == "all" else [find_model(name)]
        if found == [None]:
            raise UsageError(f"--gpu {name!r}: not a model in the table; wattprint whatif --list-gpus lists them")
        targets += [m for m in found if m is not None and m not in targets]
    try:
        return gpu_whatif(run, targets, precision)
    except ReportError as exc:
        raise UsageError(str(exc)) from None


def _gpu_table(run: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    from wattprint.report.escape import term_text as t
    from wattprint.report.whatif_gpu import BAND
    from wattprint.units import fmt_duration, fmt_energy, fmt_mass

    head = rows[0]
    lines = [f"What if: run {t(run['id'][:8])} {t(run['name'])} on other GPUs ({head['precision']}, MODELLED: "
             f"datasheet peak ratios, not measurements; range ×{BAND[0]:g} to ×{BAND[1]:g})",
             f"  {'GPU':<16} {'method':<9} {'TDP':>6} {'TFLOPS':>8} {'time':>10} {'energy':>11} {'CO2e':>10} "
             f"{'time range':>21} {'energy range':>23}"]
    for r in rows:
        if r["note"] and "duration_s" not in r:
            lines.append(f"  {t(r['gpu']):<16} {r['method']:<9} {r['tdp_w']:>5.0f}W {'':>8} {t(r['note'])}")
            continue
        co2 = "?" if r["emissions_g"] is None else fmt_mass(r["emissions_g"])
        tr = er = "(measured)"
        if r["duration_range_s"]:
            tr = " – ".join(fmt_duration(x) for x in r["duration_range_s"])
            er = " – ".join(fmt_energy(x) for x in r["energy_range_j"])
        peak = "-" if r["tflops"] is None else format(r["tflops"], "g")
        lines.append(f"  {t(r['gpu']):<16} {r['method']:<9} {r['tdp_w']:>5.0f}W {peak:>8} "
                     f"{fmt_duration(r['duration_s']):>10} {fmt_energy(r['energy_j']):>11} {co2:>10} "
                     f"{tr:>21} {er:>23}")
    if "busy_share" in head:
        lines.append(f"GPU busy share (from its mean power against its TDP): {head['busy_share']:.0%}; the rest "
                     "of the run's time and its non-GPU energy are carried over unchanged in power.")
    lines.append("Sources (wattprint/sensors/hwdb/SOURCES.md): "
                 + "; ".join(dict.fromkeys(f"{r['gpu']}: throughput {r['source']}, TDP {r['tdp_source']}"
                                           for r in rows)))
    return "\n".join(lines)


def _models_table() -> str:
    from wattprint.report.whatif_gpu import PRECISIONS, gpu_models

    lines = [f"  {'GPU':<16} {'TDP':>6} " + " ".join(f"{p:>8}" for p in PRECISIONS) + "  source",
             "  peak dense TFLOPS from the vendors' datasheets (-: no confirmed figure); "
             "wattprint/sensors/hwdb/SOURCES.md"]
    for m in gpu_models():
        peaks = " ".join(f"{'-' if m.tflops[p] is None else format(m.tflops[p], 'g'):>8}" for p in PRECISIONS)
        lines.insert(-1, f"  {m.model:<16} {m.tdp_w:>5.0f}W {peaks}  {m.source}, {m.tdp_source}")
    return "\n".join(lines)
