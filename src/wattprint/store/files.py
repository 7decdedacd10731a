"""The database's files: private creation, read-only places, and outputs that would overwrite it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

BUSY_TIMEOUT_S = 10.0  # how long a writer waits for another process's write lock


def create_private(p: Path) -> None:
    """Create the directory (0700) and an empty database file (0600) if missing, whatever the umask."""
    parent = p.parent
    if not parent.is_dir():
        parent.mkdir(parents=True, exist_ok=True)
        os.chmod(parent, 0o700)
    if p.exists():
        return  # someone's existing database: its mode stays as it is
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process created it first
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def read_only_place(p: Path) -> bool:
    """The database exists but this user cannot write it or its directory (read-only media, another owner)."""
    if not p.is_file():
        return False
    return not (os.access(p, os.W_OK) and os.access(p.parent, os.W_OK | os.X_OK))


def connect_read_only(p: Path, schema_version: int) -> sqlite3.Connection:
    """A read-only connection. Where the directory is writable, ``mode=ro`` (writers may still be
    active and their WAL is honoured); elsewhere ``immutable=1``, since SQLite cannot create the
    shared-memory file it needs for WAL on read-only media."""
    from urllib.parse import quote

    query = "mode=ro" if os.access(p.parent, os.W_OK) else "mode=ro&immutable=1"
    conn = sqlite3.connect(f"file:{quote(str(p.resolve()))}?{query}", uri=True, timeout=BUSY_TIMEOUT_S,
                           check_same_thread=False)
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except BaseException:
        conn.close()
        raise
    if found != schema_version:
        conn.close()
        raise sqlite3.DatabaseError(
            f"read-only database has schema {found}, this wattprint reads {schema_version}; "
            "open it once where it is writable to upgrade it, or use the matching wattprint"
        )
    return conn


def same_file_as_database(target: str | os.PathLike[str], db: str | os.PathLike[str]) -> bool:
    """Whether writing ``target`` would overwrite the database ``db`` or its
    ``-wal``/``-shm``/``-journal`` files: the same file (links included) or the same real path."""
    base = str(Path(db).expanduser())
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = base + suffix
        try:
            if os.path.samefile(target, candidate):
                return True
        except OSError:  # one of them does not exist (yet): compare where they would be
            if os.path.realpath(target) == os.path.realpath(candidate):
                return True
    return False
