"""wattprint's TOML configuration: a user file and a per-project ``wattprint.toml``.

Why two files: a user sets where their machine is once (``country = "FR"``) in the
user config dir, and a project can pin its own setting (a cluster's region, a
contractual factor) in ``wattprint.toml`` next to the code; the project file wins.

Locations, first to last (later ones override earlier keys):

1. user file: ``$WATTPRINT_CONFIG`` if set, else ``$XDG_CONFIG_HOME/wattprint/config.toml``,
   else ``~/.config/wattprint/config.toml``;
2. ``wattprint.toml`` in the working directory.

Keys read by the intensity resolver (all optional, top level)::

    country = "FR"                 # ISO 3166-1 alpha-2 (or alpha-3)
    region = "US-CA"               # sub-national grid code, see `wattprint regions`
    cloud_provider = "aws"         # aws | gcp | azure
    cloud_region = "eu-west-3"
    pue = 1.2                      # data-centre overhead factor, >= 1
    market_g_per_kwh = 25.0        # contractual (market-based) factor, gCO2e/kWh
    electricitymaps_api_key = "…"  # live: Electricity Maps (or ELECTRICITYMAPS_API_KEY)
    electricitymaps_zone = "US-CAL-CISO"
    uk_carbon_intensity = true     # live: UK Carbon Intensity API for GB (no key)
    watttime_username = "…"        # live: WattTime marginal signal
    watttime_password = "…"
    watttime_region = "CAISO_NORTH"
    live_provider = "electricitymaps"  # pick one when several are configured; "off" disables

Other modules may read their own keys from the same mapping. Unknown keys are kept,
not rejected, so that older wattprint versions read newer files.
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
SOURCES_KEY = "_sources"  # key → the file that set it (for "where did this come from")

_STR_KEYS = ("country", "region", "cloud_provider", "cloud_region", "electricitymaps_api_key",
             "electricitymaps_zone", "electricitymaps_url", "watttime_username",
             "watttime_password", "watttime_region", "watttime_url", "uk_carbon_intensity_url",
             "live_provider", "cache_dir")
_NUM_KEYS = ("pue", "market_g_per_kwh")
_BOOL_KEYS = ("uk_carbon_intensity", "cloud_probe")


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    """The user config file path (it may not exist)."""
    env = os.environ if env is None else env
    if env.get("WATTPRINT_CONFIG"):
        return Path(env["WATTPRINT_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base).expanduser() / "wattprint" / "config.toml"


def config_paths(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> list[Path]:
    """The files read, lowest precedence first: user file, then ``./wattprint.toml``."""
    return [user_config_path(env), Path(cwd or Path.cwd()) / PROJECT_FILE]


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    return tomllib.loads(text)


def read_file(path: Path) -> dict[str, Any]:
    """Parse one TOML file; bad TOML or values raise :class:`ConfigError` naming file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config file is not UTF-8 text") from None
    try:
        data = _toml_loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = int(m.group(1)) if m else getattr(exc, "lineno", None)
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        where = f"{path}:{line}" if line else str(path)
        raise ConfigError(f"{where}: invalid TOML: {msg} (fix the file or remove it)") from None
    _validate(data, path, text)
    return data


def _line_of(text: str, key: str) -> int | None:
    for i, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return i
    return None


def _validate(data: Mapping[str, Any], path: Path, text: str) -> None:
    def bad(key: str, want: str) -> ConfigError:
        line = _line_of(text, key)
        where = f"{path}:{line}" if line else str(path)
        return ConfigError(f"{where}: '{key}' must be {want}, got {data[key]!r}")

    for k in _STR_KEYS:
        if k in data and not isinstance(data[k], str):
            raise bad(k, "a string")
    for k in _NUM_KEYS:
        if k in data and (isinstance(data[k], bool) or not isinstance(data[k], (int, float))):
            raise bad(k, "a number")
    for k in _BOOL_KEYS:
        if k in data and not isinstance(data[k], bool):
            raise bad(k, "true or false")


def load_config(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> dict[str, Any]:
    """Merge the user file and ``./wattprint.toml`` (cwd wins); missing files are skipped.

    The result holds every key found plus ``_sources`` (key → path of the file that set
    it), so callers can say where a setting came from.
    """
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for path in config_paths(env, cwd):
        if not path.is_file():
            continue
        for k, v in read_file(path).items():
            merged[k] = v
            sources[k] = str(path)
    merged[SOURCES_KEY] = sources
    return merged
