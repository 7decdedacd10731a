"""A throwaway PostgreSQL server from Debian's binaries, for the tests and the benchmarks.

``start(base)`` runs ``initdb`` and ``pg_ctl`` as the ``postgres`` user (the
server refuses to run as root) in ``base`` (made theirs, mode 0700), on a free
port of 127.0.0.1 with password authentication over TCP (trust on its own
unix socket, for the administrator's connection); ``PgServer.stop()`` stops it
at once (``-m immediate``: nothing in it is worth keeping). Every step has a
timeout. Needs no pytest: ``benchmarks/fleet_store.py`` uses it too.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

PASSWORD = "Zq7-s3cret_pw"  # the role's password: tests check it never appears anywhere
INSTALL = "apt-get install postgresql (see .ci/setup.d/20-postgresql.sh)"


class ServerError(RuntimeError):
    """The server could not be set up or started (the message says which step and why)."""


class PgServer:
    """A running server: ``url(db)`` connects to database ``db`` with the password."""

    def __init__(self, port: int, base: Path, pg_ctl: str) -> None:
        self.port = port
        self.socket_dir = str(base)
        self._base, self._pg_ctl = base, pg_ctl
        self._n = 0

    def url(self, db: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{db}"

    def admin(self) -> Any:
        import psycopg

        return psycopg.connect(host=self.socket_dir, port=self.port, user="postgres", dbname="postgres",
                               autocommit=True, connect_timeout=10)

    def new_database(self) -> str:
        """A new, empty database; returns its URL."""
        self._n += 1
        name = f"wp_{os.getpid()}_{self._n}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        data = self._base / "data"
        if (data / "postmaster.pid").exists():
            _as_postgres([self._pg_ctl, "-D", str(data), "-m", "immediate", "stop"], timeout=30)
        shutil.rmtree(self._base, ignore_errors=True)


def bin_dir() -> str:
    """Where Debian keeps the server's programs (the newest version installed)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return found[-1] if found else "/usr/lib/postgresql/15/bin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:  # the server refuses to run as root
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def start(base: Path, initdb: str, pg_ctl: str) -> PgServer:
    """A new server with its data under ``base`` (an empty directory); raises :class:`ServerError`."""
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    os.chmod(base, 0o700)
    data, port = base / "data", _free_port()
    server = PgServer(port, base, pg_ctl)
    try:
        r = _as_postgres([initdb, "-D", str(data), "-U", "postgres", "--auth-local=trust",
                          "--auth-host=scram-sha-256", "--no-sync"], timeout=120)
        if r.returncode != 0:
            raise ServerError(f"initdb failed: {r.stderr.strip()[-300:]}")
        opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        r = _as_postgres([pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-t", "60", "-o", opts, "start"],
                         timeout=90)
        if r.returncode != 0:
            log = (base / "log").read_text(errors="replace")[-500:] if (base / "log").exists() else ""
            raise ServerError(f"pg_ctl start failed: {r.stderr.strip()} {log}")
        with server.admin() as conn:
            conn.execute(f"ALTER ROLE postgres PASSWORD '{PASSWORD}'")
    except BaseException:
        server.stop()
        raise
    return server
