"""Stores of each kind for the tests: a real, throwaway PostgreSQL server and SQLite files.

``pg_server`` (session) starts Debian's PostgreSQL from its own binaries
(``initdb`` + ``pg_ctl``) in a temporary directory owned by the ``postgres``
user (the server refuses to run as root), on a free port of 127.0.0.1, with
password authentication over TCP, and stops it at the end (``-m immediate``).
``store_target`` yields, for each kind, where a fresh store lives: a new SQLite
file, or a new database on that server as a ``postgresql://`` URL carrying the
password. Every step has a timeout, so a server that hangs fails the tests.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realparts import missing, need_module, need_program

PASSWORD = "Zq7-s3cret_pw"  # the role's password: tests check it never appears anywhere
INSTALL = "apt-get install postgresql (see .ci/setup.d/20-postgresql.sh)"
STORE_KINDS = ("sqlite", "postgres")


class PgServer:
    """A running server: ``url(db)`` connects to database ``db`` with the password."""

    def __init__(self, port: int, socket_dir: str) -> None:
        self.port = port
        self.socket_dir = socket_dir
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


def _bin_dir() -> str:
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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    need_module("psycopg", "pip install 'wattprint[postgres]'")
    bindir = _bin_dir()
    initdb = need_program("initdb", INSTALL, bindir)
    pg_ctl = need_program("pg_ctl", INSTALL, bindir)
    base = Path(tempfile.mkdtemp(prefix="wattprint-pg-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    os.chmod(base, 0o700)
    data, port = base / "data", _free_port()
    try:
        r = _as_postgres([initdb, "-D", str(data), "-U", "postgres", "--auth-local=trust",
                          "--auth-host=scram-sha-256", "--no-sync"], timeout=120)
        if r.returncode != 0:
            missing("a PostgreSQL server", f"initdb failed: {r.stderr.strip()[-300:]}")
        opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        r = _as_postgres([pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-t", "60", "-o", opts, "start"],
                         timeout=90)
        if r.returncode != 0:
            log = (base / "log").read_text(errors="replace")[-500:] if (base / "log").exists() else ""
            pytest.fail(f"pg_ctl start failed: {r.stderr.strip()} {log}", pytrace=False)
        server = PgServer(port, str(base))
        with server.admin() as conn:
            conn.execute(f"ALTER ROLE postgres PASSWORD '{PASSWORD}'")
        yield server
    finally:
        if (data / "postmaster.pid").exists():
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"], timeout=30)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A new, empty PostgreSQL database (its URL, password included)."""
    return pg_server.new_database()


@pytest.fixture(params=STORE_KINDS)
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh store of each kind lives: a SQLite file path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "runs.db")
    return str(request.getfixturevalue("pg_url"))


def raw(target: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on the store at ``target`` directly (not through wattprint), committed;
    ``?`` placeholders on either kind. Returns the rows (empty for a statement without any)."""
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target, autocommit=True, connect_timeout=10) as conn:
            cur = conn.execute(sql.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []
    conn = sqlite3.connect(target, timeout=10)
    try:
        with conn:
            return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
