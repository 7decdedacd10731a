"""Runs on disk: SQLite (stdlib), WAL mode, versioned schema with migrations.

The tables and their migrations are in :mod:`wattprint.store.schema`. A running
run is written at start and then every flush (10 s by default), so a killed
process loses at most one flush period; a run whose process is gone while it
still says "running" reads back as "killed". The statements themselves are
shared with the PostgreSQL store (:mod:`wattprint.store.sql`); this module only
opens the file and hands them to :mod:`sqlite3`.

Reading gives the run record of :mod:`wattprint.tracking.record`, the very
shape :meth:`wattprint.tracking.run.Run.to_dict` produces, so reports and
exports never care whether a run is live or stored.

Files are private: a database this module creates is 0600 (SQLite gives its
``-wal`` and ``-shm`` files the same mode) in a 0700 directory, whatever the
umask; existing files keep their mode. Migrations run in one transaction under
the write lock, so any number of processes may open a new database at once and
an interrupted upgrade leaves the previous version intact. A database on
read-only media (or a file this user cannot write) opens read-only for the
commands that only read.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from wattprint.errors import StoreError
from wattprint.store.files import (  # noqa: F401 - default_path and check_not_database are used from here
    check_not_database,
    connect_read_only,
    connect_writable,
    default_path,
    file_identity,
    identity_problem,
    open_hint,
    read_only_place,
)
from wattprint.store.schema import SCHEMA_VERSION, migrate  # noqa: F401 - used from here too
from wattprint.store.sql import Row, SqlStore


class SqliteStore(SqlStore):
    """The default store. Thread-safe (one connection under a lock)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, readonly: bool = False) -> None:
        super().__init__(conn, path, readonly=readonly)
        self.path: Path = path
        self._identity = None if readonly else file_identity(path)  # (device, inode) of the file opened

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, write: bool = True) -> SqliteStore:
        """Open (creating and migrating) the database at ``path`` or the default path.

        ``write=False`` (the read-only commands): where the file or its directory
        cannot be written, open it read-only instead of failing.
        """
        p = Path(path).expanduser() if path is not None else default_path()
        try:
            if not write and read_only_place(p):
                return cls(connect_read_only(p, SCHEMA_VERSION), p, readonly=True)
            return cls(connect_writable(p, migrate), p)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot use database {p}: {exc} ({open_hint(exc)})") from exc

    def file_problem(self) -> str | None:
        """Why the file at :attr:`path` is no longer the database this store opened, or None
        (a database deleted or replaced mid-run would swallow every later write)."""
        return None if self._identity is None else identity_problem(self.path, self._identity)

    def reopen(self) -> None:
        """Open :attr:`path` again (creating it if it is gone); the caller rewrites what it needs."""
        fresh = SqliteStore.open(self.path)
        with self._lock:
            old, self._conn = self._conn, fresh._conn
            self._identity = fresh._identity
            self._forget()  # nothing of ours is in the new file
        try:
            old.close()
        except sqlite3.Error:  # the old file is gone; nothing of ours to save there
            pass

    # -- the dialect: sqlite3 takes the shared statements as they are --

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def _executemany(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        self._conn.executemany(sql, params)

    def _dicts(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        cur = self._conn.cursor()
        cur.row_factory = sqlite3.Row
        return cur.execute(sql, params).fetchall()

    def _tuples(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def _transaction(self) -> AbstractContextManager[Any]:
        return self._conn  # sqlite3: commit on leaving, rollback on error

