"""``wattprint runs | show RUN | export [RUN]``: read stored runs."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterable
from typing import Any

from wattprint.cli.common import UsageError
from wattprint.cli.options import add_db, check_output, open_store


def register(sub: Any) -> None:
    p = sub.add_parser("runs", help="list stored runs, newest first")
    p.add_argument("-n", "--limit", type=int, default=20, help="how many (0: all)")
    _add_filters(p)
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
    _add_filters(p)
    add_db(p)
    p.set_defaults(func=handle_export)


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", help="only the runs of this project")
    p.add_argument("--owner", help="only the runs of this user")


def _get(store: Any, ref: str, **read: Any) -> dict[str, Any]:
    """The stored run ``ref``; ``read``: what of it to read (see ``SqliteStore.get_run``)."""
    from wattprint.errors import StoreError

    try:
        return store.get_run(ref, **read)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def handle_runs(args: argparse.Namespace) -> int:
    from wattprint.report.escape import term_text
    from wattprint.report.text import run_table

    store = open_store(args)
    runs = store.list_runs(args.limit or None, project=args.project, owner=args.owner)
    if not runs:
        which = " and ".join(f"{k} '{term_text(v)}'" for k, v in (("project", args.project), ("owner", args.owner))
                             if v is not None)
        print(f"no runs {'of ' + which + ' ' if which else ''}stored yet in {term_text(str(store.path))}",
              file=sys.stderr)
        return 0
    print(run_table(runs))
    return 0


def handle_show(args: argparse.Namespace) -> int:
    from wattprint.report.escape import term_text
    from wattprint.report.job import job_lines
    from wattprint.report.text import summary
    from wattprint.units import fmt_energy, utc

    run = _get(open_store(args), args.run, timeline=False, windows=False)  # only counts and stats
    print(summary(run))
    print(f"  started {utc(run['start_utc'])}, host {term_text(run['host'])}, CPU {term_text(run['cpu_model'])}")
    if run.get("owner") or run.get("project"):
        print(f"  owner {term_text(run.get('owner') or '-')}, project {term_text(run.get('project') or '-')}")
    if run.get("command"):
        print(f"  command: {term_text(' '.join(run['command']))}")
    print(f"  timeline: {run['timeline_intervals']} intervals of ~{run['interval_s']:g} s")
    for line in job_lines(run):
        print(line)
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

    def __init__(self, out: Any) -> None:
        from wattprint.report.escape import csv_cell

        self._writer = csv.writer(out)
        self._cell = csv_cell

    def writerow(self, row: list[Any]) -> None:
        self._writer.writerow([self._cell(v) for v in row])


def _cells(*values: Any) -> str:
    """``values`` as CSV cells joined by commas, escaped exactly as :class:`_SafeWriter` writes them."""
    buf = io.StringIO()
    _SafeWriter(buf).writerow(list(values))
    return buf.getvalue()[:-2]  # without csv's "\r\n"


def write_timeline_csv(out: Any, one: dict[str, Any], rows: Iterable[Any]) -> None:
    """One run's timeline as CSV, a line per channel per interval, streamed from ``rows``
    (intervals, as ``SqliteStore.iter_timeline`` gives them): nothing is held but one row.

    The text cells (run id, channel, component, method) are escaped once per channel;
    numbers are formatted here, so a week at 1 s writes in seconds.
    """
    _SafeWriter(out).writerow(["run_id", "interval", "t0_s", "t1_s", "start_utc", "channel", "component",
                               "method", "energy_j"])
    chans, rid = one["channels"], _cells(one["id"])
    cells: dict[str, str] = {}
    write = out.write
    for i, iv in enumerate(rows):
        head = f"{rid},{i},{iv.t0_s:.6f},{iv.t1_s:.6f},{iv.wall0:.3f},"
        for name, e in iv.energy_j.items():
            tail = cells.get(name)
            if tail is None:
                c = chans.get(name, {})
                tail = cells[name] = _cells(name, c.get("component", ""), c.get("method", ""))
            write(f"{head}{tail},{e:.6f}\r\n")


def _runs_csv(out: Any, runs: list[dict[str, Any]]) -> None:
    w = _SafeWriter(out)
    w.writerow(["id", "name", "status", "start_utc", "duration_s", "energy_j", "energy_kwh",
                "emissions_g", "market_emissions_g", "location", "intensity_g_per_kwh", "pue",
                "intensity_source", "fallback", "owner", "project"])
    for r in runs:
        it = r.get("intensity") or {}
        w.writerow([r["id"], r["name"], r["status"], r["start_utc"], r["duration_s"],
                    r["energy_j"], r["energy_kwh"], r["emissions_g"], r.get("market_emissions_g") or "",
                    it.get("location", ""), it.get("g_per_kwh", ""), it.get("pue", ""),
                    it.get("source", ""), it.get("fallback", ""), r.get("owner") or "", r.get("project") or ""])


def _export(out: Any, store: Any, args: argparse.Namespace) -> None:
    if args.format == "json":
        data = _get(store, args.run) if args.run else store.list_runs(project=args.project, owner=args.owner)
        out.write(json.dumps(data, indent=2) + "\n")
    elif args.run:
        one = _get(store, args.run, timeline=False, windows=False)
        write_timeline_csv(out, one, store.iter_timeline(one["id"]))
    else:
        _runs_csv(out, store.list_runs(project=args.project, owner=args.owner))


def handle_export(args: argparse.Namespace) -> int:
    check_output(args, args.output)
    store = open_store(args)
    if args.run:
        _get(store, args.run, timeline=False, windows=False)  # a wrong id fails before any file is made
    if not args.output:
        _export(sys.stdout, store, args)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8", newline="") as fh:
            _export(fh, store, args)
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    return 0
