"""Flags shared by several commands, and turning them into settings (:mod:`wattprint.settings`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from wattprint.cli.common import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wattprint.settings import Settings


def add_location(p: argparse.ArgumentParser) -> None:
    """``--country/--region/--cloud/--pue/--market-g-per-kwh``."""
    g = p.add_argument_group("location and intensity")
    g.add_argument("--country", help="ISO 3166 country code of the grid (e.g. FR, US)")
    g.add_argument("--region", help="sub-national grid code (e.g. US-CA, CA-QC); see 'wattprint regions'")
    g.add_argument(
        "--cloud", metavar="PROVIDER:REGION", help="cloud region, e.g. aws:eu-west-3, gcp:europe-west1"
    )
    g.add_argument("--site", help="where the machine runs: personal, datacentre, aws, gcp or azure "
                   "(gives the PUE; default: detected)")
    g.add_argument("--pue", type=float, help="power usage effectiveness of the data centre (1 to 3)")
    g.add_argument(
        "--market-g-per-kwh",
        type=float,
        dest="market_g_per_kwh",
        help="contractual emission factor for a market-based figure",
    )


# CLI flag of each setting, for messages ("--pue: pue must be ...").
FLAGS = {"name": "--name", "interval": "--interval", "country": "--country", "region": "--region",
         "pue": "--pue", "site": "--site", "market_g_per_kwh": "--market-g-per-kwh", "gpus": "--gpus",
         "rapl_root": "--rapl-root", "db": "--db", "baseline": "--baseline",
         "prometheus_port": "--prometheus-port", "prometheus_pushgateway": "--pushgateway",
         "otlp_endpoint": "--otlp-endpoint", "budget_kwh": "--budget-kwh", "budget_g": "--budget-g",
         "budget_action": "--budget-action", "budget_warn_at": "--budget-warn-at",
         "budget_grace_s": "--budget-grace"}


def load_settings(args: argparse.Namespace, **given: Any) -> Settings:
    """Every setting for this command: its flags, then env and config files, checked once.

    ``given`` adds values the command sets itself (``command=``, ``tags=``). A bad
    value anywhere is a one-line :class:`UsageError` naming where it came from.
    """
    from wattprint.errors import ConfigError
    from wattprint.settings import finite, load

    labels = dict(FLAGS)
    values: dict[str, Any] = {k: getattr(args, k, None) for k in FLAGS}
    cloud = getattr(args, "cloud", None)
    if cloud is not None:
        provider, sep, region = cloud.partition(":")
        if not sep or not provider.strip() or not region.strip():
            raise UsageError(f"--cloud wants PROVIDER:REGION (e.g. aws:eu-west-3), got '{cloud}'")
        values.update(cloud_provider=provider.strip().lower(), cloud_region=region.strip())
        labels.update(cloud_provider="--cloud", cloud_region="--cloud")
    hours = getattr(args, "baseline_max_age", None)
    if hours is not None:
        if finite(hours, 0.0, 87600.0, True) is None:
            raise UsageError(f"--baseline-max-age must be more than 0 and at most 87600 hours, got {hours}")
        values["baseline_max_age_s"], labels["baseline_max_age_s"] = hours * 3600.0, "--baseline-max-age"
    if getattr(args, "no_store", False):
        values["store"], labels["store"] = False, "--no-store"
    if getattr(args, "no_cloud_probe", False):
        values["probe_cloud"], labels["probe_cloud"] = False, "--no-cloud-probe"
    values.update(given)
    try:
        return load(values, labels=labels, where="wattprint")
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def number_arg(lo: float, hi: float, unit: str, *, lo_open: bool = False) -> Callable[[str], float]:
    """argparse type: a finite number in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    from wattprint.settings import finite

    low = f"more than {lo:g} {unit}" if lo_open else f"{lo:g} or more {unit}"

    def parse(text: str) -> float:
        v = finite(text, lo, hi, lo_open)
        if v is None:
            raise argparse.ArgumentTypeError(f"must be {low}, at most {hi:g}, got '{text}'")
        return v

    return parse


def file_arg(text: str) -> str:
    """argparse type: a file name, never empty (an empty one was silently ignored)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("wants a file name, got ''")
    return text


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH|URL",
                   help="database file or postgresql:// URL (default: $WATTPRINT_DB, `db` in the config, "
                        "or the user data dir)")


def add_sensors(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gpus", help="GPUs to measure: all, none, 0,1 or UUIDs (default: visible ones)")
    p.add_argument(
        "--rapl-root",
        default=None,
        help="powercap tree to read RAPL from (default /sys/class/powercap)",
    )


def open_store(args: argparse.Namespace, settings: Settings | None = None, *, write: bool = False) -> Any:
    """The store named by ``--db`` (else ``$WATTPRINT_DB``, the config, the default), or a UsageError.

    Commands that only read pass ``write=False`` (the default) and get a
    read-only store where the database cannot be written (read-only media).
    """
    from wattprint.errors import ConfigError, StoreError
    from wattprint.store.open import open_store as open_any

    if settings is None:
        settings = load_settings(argparse.Namespace(db=getattr(args, "db", None)))
    try:
        return open_any(settings.get("db"), write=write)
    except (StoreError, ConfigError) as exc:
        raise UsageError(str(exc)) from None


def check_output(args: argparse.Namespace, target: str | None, settings: Settings | None = None) -> None:
    """A one-line UsageError when the output file ``target`` is the database (or its WAL/SHM)."""
    if not target:
        return
    from wattprint.settings import url_scheme
    from wattprint.store.sqlite import StoreError, check_not_database

    if settings is None:
        settings = load_settings(argparse.Namespace(db=getattr(args, "db", None)))
    if url_scheme(settings.get("db")):
        return  # a server's database: no local file to overwrite
    try:
        check_not_database(target, settings.get("db"))
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def end_run(tracker: Any, args: argparse.Namespace, *, status: str, exit_code: int | None = None) -> Any:
    """Stop ``tracker`` with ``--json FILE`` as its last sink, print the summary unless ``--quiet``.

    The JSON sink goes last so the file carries every other sink's faults (a
    store that could not be written included). Warnings are held back while
    stopping: the summary states each fallback and fault once, in place.
    """
    import sys
    import warnings

    from wattprint.report.text import summary

    if getattr(args, "json", None):
        from wattprint.sinks.jsonfile import JsonFileSink

        tracker.add_sink(JsonFileSink(args.json))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = tracker.stop(status=status, exit_code=exit_code)
    if not getattr(args, "quiet", False):
        print(summary(run.to_dict()), file=sys.stderr)
    return run
