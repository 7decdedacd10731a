"""One way to open a store: a file path gives SQLite, a ``postgresql://`` URL gives PostgreSQL.

Every caller (the store sink, the CLI, the tracker's stored baseline, ``db
copy``) opens its store here, from the ``db`` setting (``--db``,
``WATTPRINT_DB``, ``db`` in a config file) or a path/URL it was given, and so
never asks which kind it holds (:class:`~wattprint.store.base.Store`).
"""

from __future__ import annotations

import os

from wattprint.errors import ConfigError
from wattprint.privacy import mask_text
from wattprint.settings import PG_SCHEMES, url_problem, url_scheme

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wattprint.store.base import Store


def is_postgres(target: str | os.PathLike[str] | None) -> bool:
    """Whether ``target`` is a PostgreSQL URL."""
    return url_scheme(target) in PG_SCHEMES


def shown(target: str | os.PathLike[str] | None) -> str:
    """``target`` as it may appear in a message: a URL's password (and user) masked."""
    return mask_text(os.fspath(target)) if target is not None else "the default database"


def open_store(target: str | os.PathLike[str] | None = None, *, write: bool = True) -> Store:
    """The store at ``target``: None (the default SQLite file), a file path, or a
    ``postgresql://`` / ``postgres://`` URL. ``write=False``: the caller only reads (a SQLite
    file on read-only media opens read-only). Raises :class:`ConfigError` for any other URL and
    :class:`~wattprint.errors.StoreError` when the store cannot be opened."""
    problem = url_problem(target)
    if problem:
        raise ConfigError(problem)
    if is_postgres(target):
        from wattprint.store.postgres import PostgresStore

        return PostgresStore.open(os.fspath(target).strip())  # type: ignore[arg-type]
    from wattprint.store.sqlite import SqliteStore

    return SqliteStore.open(target, write=write)
