"""wattprint's TOML configuration files: where they are and how one is read.

Why two files: a user sets where their machine is once (``country = "FR"``) in the
user config dir, and a project can pin its own setting (a cluster's region, a
contractual factor) in ``wattprint.toml`` next to the code; the project file wins.

Locations, highest precedence first:

1. ``wattprint.toml`` in the working directory (the project file);
2. the user file: ``$WATTPRINT_CONFIG`` if set, else
   ``$XDG_CONFIG_HOME/wattprint/config.toml``, else ``~/.config/wattprint/config.toml``.

This module only finds and parses the files. Which keys exist, their types and
bounds, and how a file's value ranks against flags and the environment is
:mod:`wattprint.settings` (its ``KEYS`` table is the list of file keys).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from wattprint.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PROJECT_FILE = "wattprint.toml"


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    """The user config file path (it may not exist)."""
    env = os.environ if env is None else env
    if env.get("WATTPRINT_CONFIG"):
        return Path(env["WATTPRINT_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base).expanduser() / "wattprint" / "config.toml"


def config_paths(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> list[tuple[str, Path]]:
    """``(level, path)`` of the files to read, highest precedence first: project, then user."""
    return [("project", Path(cwd or Path.cwd()) / PROJECT_FILE), ("user", user_config_path(env))]


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    return tomllib.loads(text)


def read_file(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse one TOML file: ``(data, line of each top-level key)``.

    A file that cannot be read, is not UTF-8, is not TOML or nests too deeply
    raises :class:`ConfigError` in one line naming ``file:line``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config file is not UTF-8 text") from None
    try:
        data = _toml_loads(text)
    except RecursionError:  # a value nested thousands deep: tomllib recurses once per level
        raise ConfigError(f"{path}: config file nests too deeply to read (fix the file or remove it)") from None
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = int(m.group(1)) if m else getattr(exc, "lineno", None)
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        where = f"{path}:{line}" if line else str(path)
        raise ConfigError(f"{where}: invalid TOML: {msg} (fix the file or remove it)") from None
    return data, _key_lines(text, data)


def _key_lines(text: str, data: Mapping[str, Any]) -> dict[str, int]:
    """The line where each top-level key is set (before the first table header)."""
    lines: dict[str, int] = {}
    for i, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("["):
            break
        m = re.match(r"\s*[\"']?([A-Za-z0-9_-]+)[\"']?\s*=", line)
        if m and m.group(1) in data and m.group(1) not in lines:
            lines[m.group(1)] = i
    return lines
