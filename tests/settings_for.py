"""Settings built the way a run builds them, from an environment and real config files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from wattprint.settings import Settings, load


def write_toml(path: Path, values: Mapping[str, object]) -> Path:
    """A flat TOML file (strings, numbers, booleans: JSON spells them the TOML way)."""
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()), encoding="utf-8")
    return path


def settings_for(env: Mapping[str, str] | None = None, project: Mapping[str, object] | None = None,
                 user: Mapping[str, object] | None = None, arguments: Mapping[str, object] | None = None,
                 **more: object) -> Settings:
    """``load()`` with this environment only, and these files written in the working directory.

    The arguments are ``more`` and ``arguments`` (for settings named like this function's own
    keywords, such as ``project``).
    """
    arguments = {**(arguments or {}), **more}
    files = []
    if project is not None:
        files.append(("project", write_toml(Path.cwd() / "wattprint.toml", project)))
    if user is not None:
        files.append(("user", write_toml(Path.cwd() / "user-config.toml", user)))
    return load(arguments, env=env or {}, files=files)
