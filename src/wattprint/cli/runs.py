"""``wattprint runs | show RUN | export [RUN]``: read stored runs."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import Any

from wattprint.cli.common import UsageError
from wattprint.cli.options import add_db, check_output, open_store


def register(sub: Any) -> None:
    p = sub.add_parser("runs", help="list stored runs, newest first")
    p.add_argument("-n", "--limit", type=int, default=20, help="how many (0: all)")
    add_db(p)
    p.set_defaults(func=handle_runs)

    p = sub.add_parser("show", help="show one stored run")
    p.add_argument("run", help="run id, unique prefix, or 'last'")
    add_db(p)
    p.set_defaults(func=handle_show)

    p = sub.add_parser("export", help="export runs as CSV or JSON")
    p.add_argument("run", nargs="?", help="run id (default: every run's totals)")
    p.add_argument("--format", choices=("csv", "json"), default="json")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    add_db(p)
    p.set_defaults(func=handle_export)


def _get(store: Any, ref: str) -> dict[str, Any]:
    from wattprint.store.sqlite import StoreError

    try:
        return store.get_run(ref)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def handle_runs(args: argparse.Namespace) -> int:
    from wattprint.report.text import run_table

    store = open_store(args)
    runs = store.list_runs(args.limit or None)
    if not runs:
        print(f"no runs stored yet in {store.path}", file=sys.stderr)
        return 0
    print(run_table(runs))
    return 0


def handle_show(args: argparse.Namespace) -> int:
    from wattprint.report.escape import term_text
    from wattprint.report.text import summary
    from wattprint.units import fmt_energy, utc

    run = _get(open_store(args), args.run)
    print(summary(run))
    print(f"  started {utc(run['start_utc'])}, host {term_text(run['host'])}, CPU {term_text(run['cpu_model'])}")
    if run.get("command"):
        print(f"  command: {term_text(' '.join(run['command']))}")
    print(f"  timeline: {len(run['timeline'])} intervals of ~{run['interval_s']:g} s")
    stats = run.get("window_stats") or {}
    if stats:
        print("  top windows by energy:")
        print(f"    {'name':<24} {'calls':>6} {'total':>10} {'per call':>10} {'time':>7}")
        for name, st in list(stats.items())[:10]:
            flag = f"  ({st['estimated_calls']:.0f} short, estimated)" if st["estimated_calls"] else ""
            print(
                f"    {term_text(name):<24} {st['calls']:>6.0f} {fmt_energy(st['energy_j']):>10} "
                f"{fmt_energy(st['mean_j']):>10} {st['time_share']:>6.1%}{flag}"
            )
    return 0


class _SafeWriter:
    """A ``csv.writer`` whose every cell goes through :func:`~wattprint.report.escape.csv_cell`."""

    def __init__(self, buf: io.StringIO) -> None:
        from wattprint.report.escape import csv_cell

        self._writer = csv.writer(buf)
        self._cell = csv_cell

    def writerow(self, row: list[Any]) -> None:
        self._writer.writerow([self._cell(v) for v in row])


def _csv_rows(runs: list[dict[str, Any]], one: dict[str, Any] | None) -> str:
    buf = io.StringIO()
    w = _SafeWriter(buf)
    if one is not None:
        chans = one["channels"]
        w.writerow(["run_id", "interval", "t0_s", "t1_s", "start_utc", "channel", "component",
                    "method", "energy_j"])
        for i, iv in enumerate(one["timeline"]):
            for name, e in iv["energy_j"].items():
                c = chans.get(name, {})
                w.writerow([one["id"], i, f"{iv['t0_s']:.6f}", f"{iv['t1_s']:.6f}",
                            f"{iv['start_utc']:.3f}", name, c.get("component", ""),
                            c.get("method", ""), f"{e:.6f}"])
        return buf.getvalue()
    w.writerow(["id", "name", "status", "start_utc", "duration_s", "energy_j", "energy_kwh",
                "emissions_g", "market_emissions_g", "location", "intensity_g_per_kwh", "pue",
                "intensity_source", "fallback"])
    for r in runs:
        it = r.get("intensity") or {}
        w.writerow([r["id"], r["name"], r["status"], r["start_utc"], r["duration_s"],
                    r["energy_j"], r["energy_kwh"], r["emissions_g"], r.get("market_emissions_g") or "",
                    it.get("location", ""), it.get("g_per_kwh", ""), it.get("pue", ""),
                    it.get("source", ""), it.get("fallback", "")])
    return buf.getvalue()


def handle_export(args: argparse.Namespace) -> int:
    check_output(args, args.output)
    store = open_store(args)
    one = _get(store, args.run) if args.run else None
    runs = [] if one is not None else store.list_runs()
    if args.format == "json":
        text = json.dumps(one if one is not None else runs, indent=2) + "\n"
    else:
        text = _csv_rows(runs, one)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)
    return 0
