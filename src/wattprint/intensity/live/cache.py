"""A tiny JSON disk cache for live-provider answers.

Why: the same hours are asked for again (repeated short runs, ``wattprint show``), the
free API tiers are rate-limited, and a cached answer costs no network time at a run's
end. Entries are one JSON file each, written atomically, with an expiry time.
Location: the ``cache_dir`` setting (``$WATTPRINT_CACHE_DIR`` or the config), else
``$XDG_CACHE_HOME/wattprint/live``, else
``~/.cache/wattprint/live``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where live answers are cached when no ``cache_dir`` setting names a place."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(base).expanduser() / "wattprint" / "live"


class DiskCache:
    """Key → JSON value with an expiry; unreadable or expired entries count as misses."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored value, or None when absent, expired or corrupt."""
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
            if float(entry["expires"]) < time.time():
                return None
            value = entry["value"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return value if isinstance(value, dict) else None

    def put(self, key: str, value: dict[str, Any], ttl_s: float) -> None:
        """Store ``value`` for ``ttl_s`` seconds; a failure to write is ignored (cache only)."""
        tmp = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"expires": time.time() + ttl_s, "stored": time.time(),
                           "value": value}, fh)
            os.replace(tmp, self._path(key))
            tmp = None
        except (OSError, TypeError, ValueError):
            pass
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
