"""The database's files: where it lives, private creation, read-only places, outputs that would
overwrite it, and the locked migration runner."""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path

from wattprint.errors import StoreError

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


def connect_writable(p: Path, migrate: Callable[[sqlite3.Connection], int]) -> sqlite3.Connection:
    """A read-write connection in WAL mode to a private (new) or existing database, migrated."""
    create_private(p)
    conn = sqlite3.connect(p, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    try:
        while True:
            try:
                _set_up(conn, migrate)
                return conn
            except sqlite3.OperationalError as exc:
                # Where waiting could deadlock (two processes upgrading their locks on a new file:
                # one switching it to WAL, one migrating), SQLite answers BUSY at once instead of
                # calling the busy handler: CI saw `srun -n 2 wattprint run` on a new database
                # get "database is locked" immediately. Both steps are idempotent and the
                # migration rolls back whole, so try again until the timeout.
                if not _busy(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)
    except BaseException:
        conn.close()
        raise


def _set_up(conn: sqlite3.Connection, migrate: Callable[[sqlite3.Connection], int]) -> None:
    (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
    if str(mode).lower() == "wal":
        # SQLite's advice for WAL: no fsync at each commit, only at checkpoints. A crash of the
        # process loses nothing; a power cut may lose the last flushes, never the file. Each
        # progress flush (every 10 s) costs about a quarter less CPU (0.45-0.54 -> 0.34-0.38 ms).
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    migrate(conn)


def _busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def open_hint(exc: BaseException) -> str:
    """What to do about a database that cannot be opened."""
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return "it may be damaged: move it aside or restore a copy"
    return "set WATTPRINT_DB or --db to a writable file"


def file_identity(p: Path) -> tuple[int, int] | None:
    """(device, inode) of ``p``, to notice later that it was deleted or replaced."""
    try:
        st = os.stat(p)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def identity_problem(p: Path, identity: tuple[int, int]) -> str | None:
    """Why ``p`` is no longer the file whose identity was taken, or None."""
    try:
        st = os.stat(p)
    except FileNotFoundError:
        return f"database {p} was deleted while in use"
    except OSError as exc:
        return f"database {p} cannot be checked: {exc.strerror or exc}"
    if (st.st_dev, st.st_ino) != identity:
        return f"database {p} was replaced by another file while in use"
    return None


def read_only_place(p: Path) -> bool:
    """The database exists but this user cannot write it or its directory (read-only media, another owner)."""
    if not p.is_file():
        return False
    return not (os.access(p, os.W_OK) and os.access(p.parent, os.W_OK | os.X_OK))


def connect_read_only(p: Path, schema_version: int) -> sqlite3.Connection:
    """A read-only connection. Where the directory is writable, ``mode=ro`` (writers may still be
    active and their WAL is honoured); elsewhere ``immutable=1``, since SQLite cannot create the
    shared-memory file it needs for WAL on read-only media, or, when a ``-wal`` file was left
    beside it, an in-memory copy with that WAL replayed (:func:`_replayed_copy`)."""
    from urllib.parse import quote

    if os.access(p.parent, os.W_OK):
        conn = sqlite3.connect(f"file:{quote(str(p.resolve()))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S,
                               check_same_thread=False)
    elif _wal_size(p) > 0:
        conn = _replayed_copy(p)
    else:
        conn = sqlite3.connect(f"file:{quote(str(p.resolve()))}?mode=ro&immutable=1", uri=True,
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


def _wal_size(p: Path) -> int:
    try:
        return os.stat(f"{p}-wal").st_size
    except OSError:
        return 0


def _replayed_copy(p: Path) -> sqlite3.Connection:
    """The database with its leftover ``-wal`` applied, in memory.

    ``immutable=1`` reads only the main file, so the transactions still in the WAL of a
    database copied or left on read-only media (a writer killed before its checkpoint)
    would be missing. SQLite replays a WAL only where it can write, so the two files are
    copied to a private temporary directory, opened there, and copied into memory.
    """
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="wattprint-ro-") as tmp:
        copy = Path(tmp) / "runs.db"
        shutil.copyfile(p, copy)
        shutil.copyfile(f"{p}-wal", f"{copy}-wal")
        source = sqlite3.connect(copy)
        try:
            memory = sqlite3.connect(":memory:", check_same_thread=False)
            source.backup(memory)
        finally:
            source.close()
    return memory


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


def describe(p: Path) -> list[tuple[bool, str]]:
    """What ``doctor`` says of the database file: (fine, line) pairs — where it is, whether
    others can read it (it holds command lines), whether this user can write it, its schema."""
    out: list[tuple[bool, str]] = []
    if not p.exists():
        out.append((True, f"{p}: not created yet (it will be created 0600 in a 0700 directory)"))
        return out
    mode = stat.S_IMODE(os.stat(p).st_mode)
    shared = bool(mode & 0o077)
    note = f"; other users can read it (it holds command lines): chmod 600 {p}" if shared else ""
    out.append((not shared, f"{p}: mode {mode:04o}{note}"))
    if read_only_place(p):
        out.append((True, "read-only here: runs can be listed and reported, not stored"))
    if _wal_size(p) > 0:
        out.append((True, "a -wal file holds recent writes (a writer is active, or one stopped before its checkpoint)"))
    return out


def default_path() -> Path:
    """``runs.db`` in the user data directory (``$WATTPRINT_DB`` / ``--db`` arrive as the
    ``db`` setting, read and checked by :mod:`wattprint.settings`, never here)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "wattprint" / "runs.db"


def check_not_database(target: str | os.PathLike[str], db: str | os.PathLike[str] | None = None) -> None:
    """Refuse an output file that is the database ``db`` (default: the default path) or its WAL/SHM.

    The one check every command that writes a file (``run --json``, ``report -o``,
    ``export -o``) makes before writing.
    """
    base = Path(db).expanduser() if db is not None else default_path()
    if same_file_as_database(target, base):
        raise StoreError(f"refusing to write {target}: it is the wattprint database {base} (choose another file)")


def split_statements(script: str) -> list[str]:
    return [st.strip() for st in script.split(";") if st.strip()]


def apply_migrations(conn: sqlite3.Connection, migrations: list[str]) -> int:
    """Bring the schema to ``len(migrations)``; returns the version found before.

    ``migrations[i]`` takes the schema from version ``i`` to ``i + 1``.

    All pending steps run in one transaction that holds the write lock from the
    start (``BEGIN IMMEDIATE``), and the version is read again once the lock is
    held: of several processes opening a new database at once, one migrates and
    the others find it done. A failure or a kill part-way rolls everything back.
    """
    target = len(migrations)
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > target:
        raise sqlite3.DatabaseError(
            f"database schema {found} is newer than this wattprint ({target}); upgrade"
        )
    if found == target:
        return found
    isolation = conn.isolation_level
    conn.isolation_level = None  # we issue BEGIN/COMMIT ourselves
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for version in range(found, target):
                for statement in split_statements(migrations[version]):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={max(found, target)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.isolation_level = isolation
    return found
