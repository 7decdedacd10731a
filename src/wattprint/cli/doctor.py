"""``wattprint doctor``: which sensors work, which do not and how to fix them; where we are."""

from __future__ import annotations

import argparse
from typing import Any

from wattprint.cli.common import UsageError
from wattprint.cli.options import add_db, add_location, add_sensors, load_settings

# doctor lines of the whole-machine sensors (sensors/platform), listed under a heading of their own
_WHOLE_MACHINE = ("hwmon", "ipmi", "redfish", "platform")
_WHOLE_TITLE = "Whole-machine power (hwmon meter, IPMI DCMI as root, Redfish; else the modelled rest)"


def register(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check sensors, permissions and location")
    add_sensors(p)
    add_location(p)
    add_db(p)
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from wattprint.intensity.base import LocationError
    from wattprint.report.escape import term_text as t
    from wattprint.report.text import intensity_line
    from wattprint.sensors.base import SensorError
    from wattprint.sensors.platform.opener import PlatformOptions
    from wattprint.sensors.registry import open_sensors

    settings = load_settings(args)
    try:
        sensors, lines = open_sensors(rapl_root=settings.get("rapl_root"), gpus=settings.get("gpus"),
                                      platform=PlatformOptions.from_settings(settings.get))
    except SensorError as exc:
        raise UsageError(str(exc)) from None
    _print_families()
    whole = [a for a in lines if a.sensor.split(" ")[0] in _WHOLE_MACHINE]
    for title, group in (("Sensors", [a for a in lines if a not in whole]), (_WHOLE_TITLE, whole)):
        print(title)
        for a in group:
            mark = "ok " if a.available else "-- "
            print(f"  {mark}{t(a.sensor)}: {t(a.detail)}")  # device names come from drivers: hostile
            if a.fix:
                print(f"       fix: {t(a.fix)}")
    used = [c for s in sensors for c in s.channels]
    print("Channels that will be measured")
    for c in used:
        total = "" if c.in_total else " (not in total)"
        print(f"  {t(c.name):<20} {t(c.method):<16} ±{c.band:.0%}{total}  {t(c.detail)}")
    if not used:
        print("  none")
    for s in sensors:
        s.close()
    print("Settings given (flag > environment > ./wattprint.toml > user file > default)")
    for line in settings.describe() or ["none: every setting has its default"]:
        print(f"  {line}")
    print("Location and intensity")
    try:
        from wattprint.intensity.resolve import resolve

        intensity = resolve(settings=settings)
    except LocationError as exc:
        raise UsageError(str(exc)) from None
    for step in intensity.chain:
        print(f"  · {t(step)}")
    print(f"  → {intensity_line(intensity.to_dict())}")
    for w in intensity.warnings:
        print(f"  ! {t(w)}")
    _print_database(settings.get("db"))
    return 0


def _print_database(db: str | None) -> None:
    """Where runs go, and whether that file is private (it holds command lines)."""
    from pathlib import Path

    from wattprint.report.escape import term_text as t
    from wattprint.settings import url_scheme
    from wattprint.store.files import default_path, describe

    print("Database")
    found = _server_database(db) if db and url_scheme(db) else describe(Path(db).expanduser() if db else default_path())
    for fine, line in found:
        print(f"  {'ok ' if fine else '!! '}{t(line)}")


def _server_database(url: str) -> list[tuple[bool, str]]:
    """What ``doctor`` says of a PostgreSQL store: reachable (and migrated) or why not; the URL's
    password masked."""
    from wattprint.errors import StoreError
    from wattprint.store.open import open_store, shown

    try:
        store = open_store(url, write=False)
    except StoreError as exc:
        return [(False, str(exc))]
    store.close()
    return [(True, f"{shown(url)}: PostgreSQL store, reachable, schema up to date")]


def _print_families() -> None:
    """The registry, so users see the names ``Tracker(sensors=[...])`` takes and what each measures."""
    from wattprint.sensors.registry import FAMILIES

    print("Sensor families (choose with Tracker(sensors=[...]); default: all)")
    width = max(len(f.name) for f in FAMILIES)
    for f in FAMILIES:
        takes = f"; option {', '.join(f.options)}" if f.options else ""
        print(f"  {f.name:<{width}} {f.summary}")
        print(f"  {'':<{width}} channels {f.measures}; {f.methods}{takes}")
