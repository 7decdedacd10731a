"""``wattprint db copy SRC DST``: move runs between stores (SQLite files, PostgreSQL URLs)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from wattprint.cli.common import UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("db", help="manage run stores (copy runs between SQLite files and PostgreSQL)")
    dbsub = p.add_subparsers(dest="db_command", metavar="COMMAND", parser_class=type(p))
    c = dbsub.add_parser(
        "copy", help="copy runs and baselines from one store to another",
        description="Copy every run (header, channels, windows, timeline) and idle baseline from SRC to DST, "
        "each a database file or a postgresql:// URL. Each copied run is read back from both and compared; "
        "copying again copies nothing twice (a run that changed since is replaced).",
    )
    c.add_argument("src", metavar="SRC", help="the store to read: a file or a postgresql:// URL")
    c.add_argument("dst", metavar="DST", help="the store to write (created if new)")
    c.add_argument("--project", help="only the runs of this project")
    c.add_argument("--owner", help="only the runs of this user")
    c.add_argument("-q", "--quiet", action="store_true", help="no line per run")
    c.set_defaults(func=handle_copy)
    p.set_defaults(func=_no_command)


def _no_command(args: argparse.Namespace) -> int:
    raise UsageError("db wants a command: copy (see 'wattprint db --help')")


def _open(target: str, *, write: bool) -> Any:
    from wattprint.errors import ConfigError, StoreError
    from wattprint.settings import url_scheme
    from wattprint.store.open import open_store, shown

    if not target.strip():
        raise UsageError("db copy wants a file or a postgresql:// URL, got ''")
    if not write and url_scheme(target) is None and not os.path.isfile(os.path.expanduser(target)):
        raise UsageError(f"no database file at {shown(target)}")  # never create an empty source
    try:
        return open_store(target, write=write)
    except (ConfigError, StoreError) as exc:
        raise UsageError(str(exc)) from None


def _same_place(a: str, b: str) -> bool:
    from wattprint.settings import url_scheme

    if url_scheme(a) or url_scheme(b):
        return a.strip() == b.strip()
    pa, pb = os.path.expanduser(a), os.path.expanduser(b)
    return os.path.realpath(pa) == os.path.realpath(pb)


def handle_copy(args: argparse.Namespace) -> int:
    import sys

    from wattprint.errors import StoreError
    from wattprint.report.escape import term_text
    from wattprint.store.copy import copy_runs

    if _same_place(args.src, args.dst):
        raise UsageError("SRC and DST are the same store; give two different ones")
    src = _open(args.src, write=False)
    try:
        dst = _open(args.dst, write=True)
    except BaseException:
        src.close()
        raise

    def progress(run_id: str, what: str) -> None:
        if not args.quiet:
            print(f"{what} {run_id}", file=sys.stderr)

    try:
        done = copy_runs(src, dst, project=args.project, owner=args.owner, progress=progress)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    finally:
        src.close()
        dst.close()
    print(f"copied {done.copied} runs ({done.intervals} timeline intervals) and {done.baselines} baselines "
          f"from {term_text(str(src.path))} to {term_text(str(dst.path))}; {done.skipped} runs already there "
          "and equal; every copied run read back equal")
    return 0
