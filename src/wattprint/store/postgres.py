"""Runs in PostgreSQL, for a team or a cluster: every member's and node's runs in one place.

The same tables, the same schema version and the same migrations as the
SQLite store (:mod:`wattprint.store.schema`), translated by :func:`pg_dialect`
(REAL → DOUBLE PRECISION, so every figure round-trips exactly; BLOB → BYTEA;
INTEGER → BIGINT). Every statement is the SQLite store's too
(:mod:`wattprint.store.sql`); only the placeholders differ.

- **Many writers.** Each process (machine, rank) writes its own runs in its own
  transactions; nothing is locked across runs, so any number of writers go at
  once. A broken connection (the server restarted) is opened again before the
  next write, so a run's later flushes still land.
- **Concurrent first use.** Migrations run in one transaction under a
  transaction-level advisory lock, and the version (table ``wattprint_schema``)
  is read again once the lock is held: of many processes opening a new
  database at once, one migrates and the others find it done; a failure leaves
  the previous version.
- **Credentials.** The URL is kept only to connect; :attr:`PostgresStore.path`
  (what every message shows) has its user and password masked, and every error
  from the driver is scrubbed of the password before it is raised.
  ``PGPASSWORD`` / ``~/.pgpass`` work as for any libpq client.

Needs the ``postgres`` extra (``pip install 'wattprint[postgres]'``: psycopg 3).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from wattprint.errors import StoreError
from wattprint.privacy import MASK, mask_text
from wattprint.store.files import split_statements
from wattprint.store.schema import MIGRATIONS
from wattprint.store.sql import Row, SqlStore

CONNECT_TIMEOUT_S = 10
# pg_advisory_xact_lock key held while migrating: "wattprnt" as a 64-bit integer
MIGRATION_LOCK = int.from_bytes(b"wattprnt", "big")
_TYPES = {"REAL": "DOUBLE PRECISION", "BLOB": "BYTEA", "INTEGER": "BIGINT"}
_TYPE_WORD = re.compile(r"\b(REAL|BLOB|INTEGER)\b", re.IGNORECASE)
_LITERAL = re.compile(r"('(?:[^']|'')*')")


def pg_dialect(script: str) -> str:
    """A migration written for SQLite (portable SQL with SQLite's type names) as PostgreSQL
    runs it: the type names translated outside string literals, the rest unchanged."""
    parts = _LITERAL.split(script)
    for i in range(0, len(parts), 2):  # even parts are outside quotes
        parts[i] = _TYPE_WORD.sub(lambda m: _TYPES[m[1].upper()], parts[i])
    return "".join(parts)


def _secrets(url: str) -> list[str]:
    """The password in ``url`` (userinfo or ``?password=``), as written and decoded."""
    try:
        parts = urlsplit(url)
        found = [parts.password or ""] + [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
    except ValueError:
        found = []
    raw = re.findall(r"://[^/@\s]*?:([^/@\s]+)@", url)
    return sorted({s for p in found + raw for s in (p, unquote(p)) if s}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` (an error from the driver) with the URL's password and any secret shape masked."""
    for secret in _secrets(url):
        text = text.replace(secret, MASK)
    return mask_text(text)


def _said(exc: BaseException, url: str) -> str:
    """The driver's error on one line (libpq adds hint lines), scrubbed."""
    return scrub(" ".join(str(exc).split()), url)


def mask_url(url: str) -> str:
    """``url`` as it may be shown: user and password masked."""
    return scrub(url, url)


def _version(conn: Any) -> int:
    if conn.execute("SELECT to_regclass('wattprint_schema')").fetchone()[0] is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM wattprint_schema").fetchone()
    return int(row[0] or 0)


def migrate(conn: Any) -> int:
    """Bring the schema to the SQLite store's version; returns the version found before."""
    target = len(MIGRATIONS)
    found = _version(conn)
    if found == target:
        return found
    if found < target:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS wattprint_schema (version BIGINT NOT NULL)")
            found = _version(conn)
            for version in range(found, target):
                for statement in split_statements(pg_dialect(MIGRATIONS[version])):
                    conn.execute(statement)
            if found < target:
                conn.execute("DELETE FROM wattprint_schema")
                conn.execute("INSERT INTO wattprint_schema VALUES (%s)", (target,))
    if found > target:
        raise StoreError(f"database schema {found} is newer than this wattprint ({target}); upgrade wattprint")
    return found


def _driver() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreError("a PostgreSQL store needs psycopg: pip install 'wattprint[postgres]'") from None
    return psycopg


def _connect(url: str) -> Any:
    return _driver().connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name="wattprint")


def _plain(params: tuple[Any, ...]) -> tuple[Any, ...]:
    # NaN is NULL, as SQLite stores it (a window priced before the intensity was known), so both
    # stores read the same record back
    return tuple(None if isinstance(v, float) and math.isnan(v) else v for v in params)


class PostgresStore(SqlStore):
    """A run store in a PostgreSQL database (``postgresql://user@host:port/dbname``)."""

    _FIND = "strpos"  # instr's name here (store/runquery.py)

    def __init__(self, conn: Any, url: str) -> None:
        super().__init__(conn, mask_url(url))
        self._url = url  # to connect again; never shown (``path`` is the masked form)
        self._sql: dict[str, str] = {}

    @classmethod
    def open(cls, url: str, *, write: bool = True) -> PostgresStore:
        """Connect to ``url`` and bring its schema up to date (creating the tables in a new database).

        ``write`` is taken for the same call as the SQLite store's (a server decides by its grants).
        """
        psycopg = _driver()

        try:
            conn = _connect(url)
        except psycopg.Error as exc:
            raise StoreError(f"cannot use database {mask_url(url)}: {_said(exc, url)}") from None
        try:
            migrate(conn)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, psycopg.Error):
                raise StoreError(f"cannot migrate database {mask_url(url)}: {_said(exc, url)}") from None
            raise
        return cls(conn, url)

    # -- the dialect: the shared statements with psycopg's placeholders --

    def _q(self, sql: str) -> str:
        q = self._sql.get(sql)
        if q is None:
            q = self._sql[sql] = sql.replace("?", "%s")
        return q

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self._conn.execute(self._q(sql), _plain(params))

    def _executemany(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        if params:
            with self._conn.cursor() as cur:
                cur.executemany(self._q(sql), [_plain(p) for p in params])

    def _dicts(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        from psycopg.rows import dict_row

        with self._conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(self._q(sql), _plain(params)).fetchall()

    def _tuples(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(self._q(sql), _plain(params)).fetchall()

    def _check_connection(self, psycopg: Any) -> None:
        """Connect again if the connection died (the server restarted, an idle timeout): a round
        trip per write (a flush every few seconds), so the write does not fail on a dead socket."""
        if not (self._conn.broken or self._conn.closed):
            try:
                self._conn.execute("SELECT 1")
            except psycopg.OperationalError:
                pass  # broken now; connected again below
        if self._conn.broken or self._conn.closed:
            old, self._conn = self._conn, _connect(self._url)
            old.close()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        psycopg = _driver()

        try:
            self._check_connection(psycopg)
            with self._conn.transaction() as tx:
                yield tx
        except psycopg.Error as exc:
            raise StoreError(f"database {self.path}: {_said(exc, self._url)}") from None
