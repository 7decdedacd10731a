"""``wattprint`` entry point: builds the parser from one module per command group."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from wattprint.cli.common import EXIT_USAGE, UsageError, fail
from wattprint.errors import WattprintError
from wattprint.version import __version__

# Each module exposes ``register(subparsers)``, adding its commands with
# ``set_defaults(func=handler)``; ``handler(args) -> int`` is the exit code.
COMMAND_MODULES = ("run", "doctor", "runs", "baseline", "intensity", "report", "whatif", "when", "tune_power",
                   "exporter", "db", "dashboard", "merge")


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags in one line (no usage dump) with exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see 'wattprint {self.prog.partition(' ')[2]} --help')".replace("  ", " "))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wattprint", description="Energy and CO2e of any command or code block.")
    parser.add_argument("--version", action="version", version=f"wattprint {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"wattprint.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"wattprint.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(args.func(args))
    except WattprintError as exc:  # every error raised on purpose (UsageError too) is one line
        return fail(str(exc))
    except BrokenPipeError:  # output piped into `head` and friends: not an error
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        sqlite3 = sys.modules.get("sqlite3")  # loaded if the error can be one of its
        if sqlite3 is not None and isinstance(exc, sqlite3.DatabaseError):
            # a damaged database (garbage pages) surfaces on the first read of the bad page
            return fail(
                f"the database cannot be read: {exc} (it may be damaged: move it aside or restore a copy; "
                "--db or WATTPRINT_DB picks another)"
            )
        psycopg = sys.modules.get("psycopg")  # loaded only for a PostgreSQL store
        if psycopg is not None and isinstance(exc, psycopg.Error):  # the server went away mid-read ...
            from wattprint.privacy import mask_text

            said = mask_text(" ".join(str(exc).split()))
            return fail(f"the PostgreSQL database cannot be read: {said}")
        raise


if __name__ == "__main__":
    sys.exit(main())
