"""Flags shared by several commands, and turning them into API arguments."""

from __future__ import annotations

import argparse
from typing import Any

from wattprint.cli.common import UsageError


def add_location(p: argparse.ArgumentParser) -> None:
    """``--country/--region/--cloud/--pue/--market-g-per-kwh``."""
    g = p.add_argument_group("location and intensity")
    g.add_argument("--country", help="ISO 3166 country code of the grid (e.g. FR, US)")
    g.add_argument("--region", help="sub-national grid code (e.g. US-CA, CA-QC); see 'wattprint regions'")
    g.add_argument(
        "--cloud", metavar="PROVIDER:REGION", help="cloud region, e.g. aws:eu-west-3, gcp:europe-west1"
    )
    g.add_argument("--pue", type=float, help="power usage effectiveness of the data centre (≥ 1)")
    g.add_argument(
        "--market-g-per-kwh",
        type=float,
        dest="market_g_per_kwh",
        help="contractual emission factor for a market-based figure",
    )


def location_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """API keyword arguments from the location flags (validated)."""
    out: dict[str, Any] = {
        "country": getattr(args, "country", None),
        "region": getattr(args, "region", None),
        "pue": getattr(args, "pue", None),
        "market_g_per_kwh": getattr(args, "market_g_per_kwh", None),
    }
    cloud = getattr(args, "cloud", None)
    if cloud:
        provider, sep, region = cloud.partition(":")
        if not sep or not provider or not region:
            raise UsageError(f"--cloud wants PROVIDER:REGION (e.g. aws:eu-west-3), got '{cloud}'")
        out["cloud_provider"], out["cloud_region"] = provider.lower(), region
    if out["pue"] is not None and not out["pue"] >= 1.0:
        raise UsageError(f"--pue must be 1.0 or more, got {out['pue']}")
    if out["market_g_per_kwh"] is not None and not out["market_g_per_kwh"] >= 0:
        raise UsageError("--market-g-per-kwh must be 0 or more")
    return out


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="database file (default: $WATTPRINT_DB or the user data dir)")


def add_sensors(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gpus", help="GPUs to measure: all, none, 0,1 or UUIDs (default: visible ones)")
    p.add_argument(
        "--rapl-root",
        default=None,
        help="powercap tree to read RAPL from (default /sys/class/powercap)",
    )


def open_store(args: argparse.Namespace, *, write: bool = False) -> Any:
    """The store named by ``--db`` (or the default), or a one-line UsageError.

    Commands that only read pass ``write=False`` (the default) and get a
    read-only store where the database cannot be written (read-only media).
    """
    from wattprint.store.sqlite import SqliteStore, StoreError

    try:
        return SqliteStore.open(getattr(args, "db", None), write=write)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def check_output(args: argparse.Namespace, target: str | None) -> None:
    """A one-line UsageError when the output file ``target`` is the database (or its WAL/SHM)."""
    if not target:
        return
    from wattprint.store.sqlite import StoreError, check_not_database

    try:
        check_not_database(target, getattr(args, "db", None))
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def check_config() -> None:
    """A broken config file is a user error to report before any work starts."""
    from wattprint.config import ConfigError, load_config

    try:
        load_config()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def end_run(tracker: Any, args: argparse.Namespace, *, status: str, exit_code: int | None = None) -> Any:
    """Stop ``tracker``, write ``--json FILE`` if asked, print the summary unless ``--quiet``.

    Warnings are held back while stopping: the summary states each fallback and
    fault once, in place.
    """
    import json
    import sys
    import warnings

    from wattprint.report.text import summary

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = tracker.stop(status=status, exit_code=exit_code)
    data = run.to_dict()
    if getattr(args, "json", None):
        try:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
        except OSError as exc:
            print(f"wattprint: error: cannot write {args.json}: {exc.strerror or exc}", file=sys.stderr)
    if not getattr(args, "quiet", False):
        print(summary(data), file=sys.stderr)
    return run
