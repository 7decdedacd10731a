"""``wattprint baseline``: record this host's idle power per channel for later runs."""

from __future__ import annotations

import argparse
from typing import Any

from wattprint.cli.common import UsageError
from wattprint.cli.options import add_db, add_sensors, open_store


def register(sub: Any) -> None:
    p = sub.add_parser(
        "baseline",
        help="measure and store the idle power of this machine",
        description="Measure the idle machine for --duration seconds and store it; "
        "'wattprint run --baseline stored' then reports dynamic energy without waiting.",
    )
    p.add_argument("--duration", type=float, default=30.0, help="seconds to measure (default 30)")
    add_sensors(p)
    add_db(p)
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from wattprint.tracking.baseline import measure
    from wattprint.tracking.tracker import shared_sampler
    from wattprint.units import fmt_power

    if not args.duration > 0:
        raise UsageError(f"--duration must be positive, got {args.duration}")
    store = open_store(args, write=True)
    with shared_sampler(args.rapl_root, args.gpus) as (sampler, _):
        base = measure(sampler, args.duration)
    store.save_baseline(base)
    print(f"idle baseline of {base.host} over {base.duration_s:.1f} s (stored in {store.path}):")
    for name, watts in base.power_w.items():
        ch = sampler.channels.get(name)
        method = f"  {ch.method}" if ch else ""
        print(f"  {name:<20} {fmt_power(watts):>10}{method}")
    return 0
