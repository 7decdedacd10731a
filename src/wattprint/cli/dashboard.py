"""``wattprint dashboard [--db DB] [--port N] [--host ADDR --allow-network [--token-file F]]``.

A local, read-only web app over the stored runs (the ``dashboard`` extra:
starlette and uvicorn). It binds 127.0.0.1 unless told otherwise; a host
beyond loopback needs ``--allow-network``, and then every request needs a
token: the first line of ``--token-file``, or one made up at start and
printed once in the URL to open.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
from typing import Any

from wattprint.cli.common import UsageError
from wattprint.cli.options import add_db, file_arg, open_store

TOKEN_RE = re.compile(r"[A-Za-z0-9_\-.~]{16,256}")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "dashboard",
        help="browse stored runs in a local, read-only web app",
        description="Serve a read-only web app over the stored runs (runs list, run pages with the power "
        "chart, compare, totals, reports) on 127.0.0.1. Needs the extra: pip install 'wattprint[dashboard]'.",
    )
    p.add_argument("--port", type=_port, default=8050, help="TCP port (default 8050; 0: any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; anything beyond loopback needs --allow-network)")
    p.add_argument("--allow-network", action="store_true",
                   help="serve beyond this machine: every request then needs the token")
    p.add_argument("--token-file", type=file_arg, metavar="FILE",
                   help="with --allow-network: the token is this file's first line (default: a new one, printed)")
    add_db(p)
    p.set_defaults(func=handle_dashboard)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, got '{text}'") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, got '{text}'")
    return port


def _token(args: argparse.Namespace) -> tuple[str | None, bool]:
    """The token (None in local mode) and whether it was made up here (then it is printed)."""
    from wattprint.dashboard.server import is_loopback

    if not args.allow_network:
        if args.token_file:
            raise UsageError("--token-file goes with --allow-network (on loopback no token is asked)")
        if not is_loopback(args.host):
            raise UsageError(f"--host {args.host} serves beyond this machine: add --allow-network "
                             "(every request then needs a token)")
        return None, False
    if not args.token_file:
        return secrets.token_urlsafe(32), True
    try:
        with open(args.token_file, encoding="utf-8") as fh:
            token = fh.readline().strip()
    except OSError as exc:
        raise UsageError(f"cannot read --token-file {args.token_file}: {exc.strerror or exc}") from None
    if not TOKEN_RE.fullmatch(token):
        raise UsageError(f"the token in {args.token_file} must be 16-256 characters of A-Z a-z 0-9 _ - . ~")
    return token, False


def handle_dashboard(args: argparse.Namespace) -> int:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UsageError("the dashboard needs its extra: pip install 'wattprint[dashboard]'") from None
    from wattprint.dashboard.app import create_app
    from wattprint.dashboard.server import listen, serve, url_of

    token, made_up = _token(args)
    store = open_store(args)
    try:
        sock = listen(args.host, args.port)
    except OSError as exc:
        store.close()
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    url = url_of(sock)
    shown = f"{url}?token={token}" if made_up else url
    print(f"wattprint dashboard: {shown} (read-only; Ctrl-C to stop)",
          file=sys.stderr, flush=True)
    try:
        serve(create_app(store, token=token), sock)
    finally:
        sock.close()
        store.close()
    return 0
