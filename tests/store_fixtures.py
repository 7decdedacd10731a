"""Stores of each kind for the tests: a real, throwaway PostgreSQL server and SQLite files.

``pg_server`` (session) starts Debian's PostgreSQL (:mod:`pg_server`: initdb
and pg_ctl as the ``postgres`` user in a temporary directory, a free port of
127.0.0.1, password authentication over TCP) and stops it at the end.
``store_target`` yields, for each kind, where a fresh store lives: a new SQLite
file, or a new database on that server as a ``postgresql://`` URL carrying the
password. Every step has a timeout, so a server that hangs fails the tests.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pg_server import INSTALL, PASSWORD, PgServer, ServerError, bin_dir, start
from realparts import need_module, need_program

__all__ = ["PASSWORD", "PgServer", "STORE_KINDS", "pg_server", "pg_url", "raw", "store_target"]

STORE_KINDS = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    need_module("psycopg", "pip install 'wattprint[postgres]'")
    initdb = need_program("initdb", INSTALL, bin_dir())
    pg_ctl = need_program("pg_ctl", INSTALL, bin_dir())
    base = Path(tempfile.mkdtemp(prefix="wattprint-pg-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
    try:
        server = start(base, initdb, pg_ctl)
    except ServerError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


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


def raw(target: str, sql: str, params: tuple[Any, ...] = (), *, many: list[tuple[Any, ...]] | None = None
        ) -> list[tuple[Any, ...]]:
    """Run one statement on the store at ``target`` directly (not through wattprint), committed;
    ``?`` placeholders on either kind; ``many``: once per parameter tuple. Returns the rows
    (empty for a statement without any)."""
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target, autocommit=True, connect_timeout=10) as conn:
            if many is not None:
                with conn.cursor() as cur:
                    cur.executemany(sql.replace("?", "%s"), many)
                return []
            cur = conn.execute(sql.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []
    conn = sqlite3.connect(target, timeout=10)
    try:
        with conn:
            if many is not None:
                conn.executemany(sql, many)
                return []
            return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
