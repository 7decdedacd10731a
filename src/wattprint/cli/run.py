"""``wattprint run -- CMD``: run a command untouched and measure it."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from types import FrameType
from typing import Any

from wattprint.cli.common import UsageError
from wattprint.cli.options import (
    add_db,
    add_location,
    add_sensors,
    check_output,
    end_run,
    file_arg,
    load_settings,
    open_store,
)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run a command and measure its energy and CO2e",
        description="Run CMD with its output untouched, then print the energy summary on stderr.",
    )
    p.add_argument("--interval", type=float, help="seconds between samples (0.01 to 3600; default 1)")
    p.add_argument("--name", help="run name (default: the command)")
    p.add_argument("--no-store", action="store_true", help="do not save the run in the database")
    p.add_argument(
        "--no-command",
        action="store_true",
        help="keep no command line with the run (by default it is kept with secrets such as --password=... masked)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")
    p.add_argument("--json", metavar="FILE", type=file_arg, help="also write the run as JSON to FILE")
    p.add_argument(
        "--baseline",
        metavar="S|stored",
        help="measure the idle machine for S seconds first (or reuse this host's stored baseline) "
        "and report dynamic energy = total - idle",
    )
    p.add_argument(
        "--baseline-max-age",
        type=float,
        metavar="HOURS",
        help="how old a stored baseline may be (default 168 h)",
    )
    _add_budget(p)
    add_location(p)
    add_sensors(p)
    add_db(p)
    from wattprint.cli.exporter import add_exporter_flags

    add_exporter_flags(p)
    from wattprint.cli.report import add_live_options  # live view flags (report/live.py)

    add_live_options(p)
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    p.set_defaults(func=handle)


def _add_budget(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("budget (docs/foresight.md)")
    g.add_argument("--budget-kwh", type=float, dest="budget_kwh", metavar="KWH",
                   help="energy budget: warn near it, act at it")
    g.add_argument("--budget-g", type=float, dest="budget_g", metavar="G",
                   help="CO2e budget in grams (location-based): warn near it, act at it")
    g.add_argument("--budget-action", dest="budget_action", choices=("stop", "warn"),
                   help="at the budget: stop the command (SIGTERM, then SIGKILL; the default) or only warn")
    g.add_argument("--budget-warn-at", type=float, dest="budget_warn_at", metavar="FRACTION",
                   help="warn at this fraction of a budget (default 0.8)")
    g.add_argument("--budget-grace", type=float, dest="budget_grace_s", metavar="S",
                   help="seconds between SIGTERM and SIGKILL when the budget stops the command (default 10)")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class _Forwarder:
    """Passes SIGTERM/SIGHUP (and a SIGINT not already sent by the terminal) to the child.

    Under Slurm it also passes on the warning signal (``--signal=B:USR1@T`` reaches only the
    batch shell, i.e. wattprint): the tracker's own handler marks and flushes the run first,
    then the child gets the signal for its checkpoint."""

    def __init__(self, warning: int | None = None) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.pending: list[int] = []  # signals that came before the child existed
        self.previous: dict[int, Any] = {}
        self.warning = warning

    def attach(self, child: subprocess.Popen[bytes]) -> None:
        self.child = child
        for signum in self.pending:
            self._send(signum)
        self.pending.clear()

    def __enter__(self) -> _Forwarder:
        for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None), self.warning):
            if sig is not None:
                self.previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self.previous.items():
            signal.signal(sig, old)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if signum == self.warning and callable(self.previous.get(signum)):
            self.previous[signum](signum, frame)  # the tracker's mark (sets fields: never blocks)
        if self.child is None:
            self.pending.append(signum)
            return
        if signum == signal.SIGINT and _terminal_sent_it_to_child():
            return  # Ctrl-C reached the whole foreground group, the child included
        self._send(signum)

    def _send(self, signum: int) -> None:
        assert self.child is not None
        try:
            self.child.send_signal(signum)
        except ProcessLookupError:
            pass


def _warning_signal(tracker: Any) -> int | None:
    """The Slurm warning signal the tracker handles for this run (None off Slurm or when 'off')."""
    name = getattr(tracker.job, "warning_signal", None)
    return getattr(signal, name, None) if name else None


def _terminal_sent_it_to_child() -> bool:
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def handle(args: argparse.Namespace) -> int:
    from wattprint.intensity.base import LocationError
    from wattprint.sensors.base import SensorError
    from wattprint.tracking.tracker import BaselineMissing, Tracker

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("no command given: wattprint run [OPTIONS] -- CMD [ARGS...]")
    settings = load_settings(args, command=cmd)  # flags, env, config files: read and checked once
    check_output(args, args.json, settings)
    if settings.get("store"):
        open_store(args, settings, write=True).close()  # fail before the work starts, not after
    try:
        tracker = Tracker(settings=settings, store_command=not args.no_command)
    except LocationError as exc:
        raise UsageError(str(exc)) from None
    forwarder = _Forwarder()
    from wattprint.sinks.budget import stop_command

    tracker.budget_say = _say
    tracker.budget_stop = lambda budget: stop_command(lambda: forwarder.child, budget, _say)
    try:
        tracker.start()
    except (BaselineMissing, SensorError) as exc:  # e.g. --gpus naming no GPU
        raise UsageError(str(exc)) from None
    forwarder.warning = _warning_signal(tracker)
    from wattprint.cli.report import start_live  # live view on stderr while the child runs

    # Handlers go in before the child starts, so a signal that arrives while it is
    # being spawned is passed on rather than killing wattprint and orphaning it.
    with forwarder:
        try:
            child = subprocess.Popen(cmd)
        except OSError as exc:
            tracker.stop(status="failed", exit_code=127)
            print(f"wattprint: error: cannot run {cmd[0]!r}: {exc.strerror or exc}", file=sys.stderr)
            return 127
        forwarder.attach(child)
        tracker.attach_process(child.pid)  # energy of the command's process tree, beside the machine's
        live = start_live(args, tracker)
        try:
            code = child.wait()
        finally:
            live.stop()
    status = "finished" if code >= 0 else "interrupted"
    budget = tracker.run.budget if tracker.run is not None else None
    if budget is not None and budget.stopped:
        status = "stopped"
    exit_code = code if code >= 0 else 128 - code
    end_run(tracker, args, status=status, exit_code=exit_code)
    return exit_code
