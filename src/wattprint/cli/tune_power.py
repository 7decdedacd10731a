"""``wattprint tune-power -- CMD``: find the NVIDIA GPU power limit that costs the least energy.

CMD is one *step*: a short, representative piece of the real workload, run again
and again at each limit. The original limits are restored whatever happens:
the sweep ends, CMD fails, Ctrl-C, SIGTERM or SIGHUP; and if this process is
killed outright, the journal it leaves makes the next ``tune-power`` (or
``tune-power --restore``) restore them first.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from typing import Any

from wattprint.cli.common import UsageError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "tune-power",
        help="sweep NVIDIA GPU power limits on your workload; recommend the most efficient (needs root)",
        description="Runs CMD repeatedly at a series of GPU power limits, measures time and energy per run, "
        "restores the original limits, and recommends one. CMD should take 5-60 s.",
    )
    p.add_argument("--gpus", help="GPU indices to tune together, e.g. 0,1 (default: all)")
    p.add_argument("--limits", help="limits to try in W, e.g. 300,250,200 (default: --points from max to min)")
    p.add_argument("--points", type=int, default=6, help="how many limits between the board's max and min (2-20)")
    p.add_argument("--max-slowdown", type=float, default=10.0, metavar="PERCENT",
                   help="slowdown allowed for the second recommendation, in %% (default 10)")
    p.add_argument("--repeats", default="3:6", metavar="MIN:MAX", help="runs per limit (default 3:6)")
    p.add_argument("--tolerance", type=float, default=3.0, metavar="PERCENT",
                   help="agreement of the last MIN runs that ends a limit, in %% (default 3)")
    p.add_argument("--restore", action="store_true", help="only restore limits a killed sweep left changed")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    p.set_defaults(func=handle)


class _Stopped(Exception):
    """SIGTERM/SIGHUP: raised in the main thread so that every ``finally`` restores the limits."""


def _on_signal(signum: int, frame: object) -> None:
    raise _Stopped(signal.Signals(signum).name)


def _numbers(text: str, what: str) -> list[float]:
    from wattprint.settings import finite

    try:
        values = [finite(v, 1.0, 10000.0) for v in text.split(",")]
    except ValueError:
        values = [None]
    if any(v is None for v in values):
        raise UsageError(f"{what} {text!r}: give numbers separated by commas, e.g. 300,250,200")
    return [float(v) for v in values if v is not None]


def _options(args: argparse.Namespace) -> dict[str, Any]:
    from wattprint.settings import finite

    lo, sep, hi = args.repeats.partition(":")
    if not (sep and lo.isdigit() and hi.isdigit() and 1 <= int(lo) <= int(hi) <= 50):
        raise UsageError(f"--repeats {args.repeats!r}: give MIN:MAX, e.g. 3:6 (1 <= MIN <= MAX <= 50)")
    if not 2 <= args.points <= 20:
        raise UsageError(f"--points {args.points}: between 2 and 20")
    slowdown = finite(args.max_slowdown, 0.0, 1000.0)
    tolerance = finite(args.tolerance, 0.0, 100.0, True)
    if slowdown is None or tolerance is None:
        raise UsageError("--max-slowdown and --tolerance are percentages (e.g. 10 and 3)")
    gpus = None if not args.gpus else [int(v) for v in _numbers(args.gpus.replace(" ", ""), "--gpus")]
    return {"min_repeats": int(lo), "max_repeats": int(hi), "slowdown": slowdown / 100, "tolerance": tolerance / 100,
            "gpus": gpus}


def _run_once(cmd: list[str]) -> None:
    child = subprocess.Popen(cmd)
    try:
        code = child.wait()
    except BaseException:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
        raise
    if code != 0:
        raise UsageError(f"the workload exited with {code}; the original power limits were restored")


def handle(args: argparse.Namespace) -> int:
    from wattprint.errors import SensorError
    from wattprint.sensors.gpu.limits import PowerLimits

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd and not args.restore:
        raise UsageError("give the workload to tune on after --, e.g. wattprint tune-power -- python step.py")
    opts = _options(args)
    try:
        limits = PowerLimits(indices=opts["gpus"])
    except SensorError as exc:
        raise UsageError(str(exc)) from None
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        for line in limits.restore_journal():
            print(f"wattprint: {line}", file=sys.stderr)
        if args.restore:
            return 0
        limits.check_permission()
        return _tune(args, opts, limits, cmd)
    except SensorError as exc:
        raise UsageError(str(exc)) from None
    except _Stopped as exc:
        print(f"wattprint: stopped by {exc}; original power limits restored", file=sys.stderr)
        return 128 + int(getattr(signal, str(exc)))
    finally:
        previous.setdefault(signal.SIGINT, signal.getsignal(signal.SIGINT))
        for s in previous:  # a second signal must not cut the restore short
            signal.signal(s, signal.SIG_IGN)
        failed = limits.restore()
        for line in failed:
            print(f"wattprint: {line} (restore it with 'sudo nvidia-smi -pl W')", file=sys.stderr)
        limits.close()
        for s, h in previous.items():
            signal.signal(s, h)


def _tune(args: argparse.Namespace, opts: dict[str, Any], limits: Any, cmd: list[str]) -> int:
    from wattprint.tracking.powertune import candidates, recommend, sweep

    lo = max(g.min_w for g in limits.gpus)
    hi = min(g.max_w for g in limits.gpus)
    watts = _numbers(args.limits, "--limits") if args.limits else candidates(lo, hi, args.points)
    if any(not lo <= w <= hi for w in watts):
        raise UsageError(f"--limits {args.limits}: the boards allow {lo:g}-{hi:g} W")
    print(f"wattprint: sweeping {', '.join(f'{w:g}' for w in watts)} W on "
          f"{', '.join(g.name for g in limits.gpus)}; original limits "
          f"{', '.join(f'{g.original_w:g}' for g in limits.gpus)} W", file=sys.stderr)

    def said(p: Any) -> None:
        print(f"wattprint: {p.limit_w:g} W: {p.seconds:.3f} s, {p.energy_j:.1f} J per run ({p.repeats} runs, "
              f"spread {p.spread:.1%})", file=sys.stderr)

    points = sweep(limits, lambda: _run_once(cmd), watts, min_repeats=opts["min_repeats"],
                   max_repeats=opts["max_repeats"], tolerance=opts["tolerance"], on_point=said)
    best = recommend(points, opts["slowdown"])
    if args.json:
        json.dump({"gpus": [g.uuid for g in limits.gpus], "points": [p.to_dict() for p in points],
                   "recommendation": best}, sys.stdout, indent=2)
        print()
    else:
        print(_table(points, best))
    return 0


def _table(points: list[Any], best: dict[str, Any]) -> str:
    ref = next(p for p in points if p.limit_w == best["reference_w"])
    lines = [f"  {'limit':>8} {'time/run':>10} {'energy/run':>11} {'vs ' + format(ref.limit_w, 'g') + ' W':>16}"]
    for p in points:
        vs = f"{p.seconds / ref.seconds - 1:+.1%} t, {p.energy_j / ref.energy_j - 1:+.1%} E" if ref.energy_j else ""
        flag = "" if p.settled else "  (did not settle)"
        lines.append(f"  {p.limit_w:>6g} W {p.seconds:>9.3f}s {p.energy_j:>9.1f} J {vs:>16}{flag}")
    m, w = best["min_energy"], best["within_slowdown"]
    lines.append(f"Least energy: {m['limit_w']:g} W ({m['energy_saving']:.1%} less energy, {m['slowdown']:+.1%} time)")
    lines.append(f"Least energy within {best['max_slowdown']:.0%} slowdown: {w['limit_w']:g} W "
                 f"({w['energy_saving']:.1%} less energy, {w['slowdown']:+.1%} time)")
    unsettled = {p.limit_w for p in points if not p.settled} & {m["limit_w"], w["limit_w"]}
    if unsettled:
        lines.append(f"Caution: {', '.join(f'{v:g} W' for v in sorted(unsettled))} did not settle within the "
                     "tolerance: use a longer workload or more --repeats before relying on it.")
    lines.append("Set it with: sudo nvidia-smi -pl W (per GPU: -i INDEX); the original limits have been restored.")
    return "\n".join(lines)
