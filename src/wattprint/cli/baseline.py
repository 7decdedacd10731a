"""``wattprint baseline``: record this host's idle power per channel for later runs."""

from __future__ import annotations

import argparse
from typing import Any

from wattprint.cli.options import add_db, add_sensors, load_settings, number_arg, open_store
from wattprint.settings import DAY_S


def register(sub: Any) -> None:
    p = sub.add_parser(
        "baseline",
        help="measure and store the idle power of this machine",
        description="Measure the idle machine for --duration seconds and store it; "
        "'wattprint run --baseline stored' then reports dynamic energy without waiting.",
    )
    p.add_argument("--duration", type=number_arg(0.0, DAY_S, "seconds", lo_open=True), default=30.0,
                   help="seconds to measure (default 30)")
    add_sensors(p)
    add_db(p)
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from wattprint.report.escape import term_text as t
    from wattprint.tracking.baseline import measure
    from wattprint.tracking.tracker import shared_sampler
    from wattprint.units import fmt_power

    settings = load_settings(args)
    store = open_store(args, settings, write=True)
    from wattprint.sensors.platform.opener import PlatformOptions

    platform = PlatformOptions.from_settings(settings.get)
    with shared_sampler(settings.get("rapl_root"), settings.get("gpus"), platform=platform) as (sampler, _):
        base = measure(sampler, args.duration)
    store.save_baseline(base)
    print(f"idle baseline of {t(base.host)} over {base.duration_s:.1f} s (stored in {t(store.path)}):")
    for name, watts in base.power_w.items():
        ch = sampler.channels.get(name)
        method = f"  {t(ch.method)}" if ch else ""
        print(f"  {t(name):<20} {fmt_power(watts):>10}{method}")  # names come from sysfs/drivers
    return 0
