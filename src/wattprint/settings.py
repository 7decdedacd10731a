"""Every setting, from every source, read once, validated once, with where it came from.

One table (:data:`KEYS`) lists each setting: its name (the keyword of
:class:`~wattprint.Tracker` and :func:`~wattprint.track`), its kind and bounds,
its default, its environment variable and its config-file key. :func:`load`
reads API arguments or CLI flags, the environment and the config files
(:mod:`wattprint.config`) once, precedence::

    argument/flag > environment > ./wattprint.toml > user config file > default

and checks every value it finds with the same rules whatever its source
(finite numbers in range, the right type, no empty text), so ``--pue nan``,
``WATTPRINT_PUE=nan`` and ``pue = nan`` in a file fail the same way: one
:class:`~wattprint.errors.ConfigError` line naming the source (``--pue``,
``WATTPRINT_PUE``, ``/path/wattprint.toml:3``, ``argument pue``).

:class:`Settings` answers ``get(name)``, ``source(name)`` and, for the
location chain, every source that set a key (``layers(name)``). Keywords
that are not settings are refused with the nearest name; CodeCarbon's
spellings are mapped to ours with a warning, or refused naming ours.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from wattprint.config import config_paths, read_file
from wattprint.errors import ConfigError
from wattprint.privacy import mask_text
from wattprint.settings_keys import (  # noqa: F401  (re-exported: the table lives there)
    DAY_S,
    KEY,
    KEYS,
    LIVE_PROVIDERS,
    LOCATION_KEYS,
    SECRET_KEYS,
    Key,
)

TYPE_CHECKING = False  # typing costs more to import than this module
if TYPE_CHECKING:
    from typing import Any

LEVELS = ("argument", "env", "project", "user")  # highest precedence first; then the default
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_NEGATED_ENV = ("WATTPRINT_NO_CLOUD_PROBE",)  # set → the setting is False


# -- one check per kind, whatever the source -------------------------------------------------


def finite(raw: object, lo: float, hi: float, lo_open: bool = False) -> float | None:
    """``raw`` (a number or its text) as a finite float in range, else None."""
    if isinstance(raw, bool):
        return None
    try:
        v = float(raw.strip() if isinstance(raw, str) else raw)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo):
        return None
    return v


def range_text(lo: float, hi: float, lo_open: bool = False) -> str:
    """``more than 0 and at most 86400`` — the words every bound check uses."""
    return f"a number {'more than' if lo_open else 'at least'} {lo:g} and at most {hi:g}"


def _fail(key: Key, label: str, level: str, want: str, raw: object) -> ConfigError:
    fix = {"env": f"; fix or unset {label}", "project": "; fix the file", "user": "; fix the file"}
    shown = repr(raw)
    shown = shown if len(shown) <= 80 else shown[:76] + "...'"
    return ConfigError(f"{label}: {key.name} must be {want} ({key.help}), got {shown}{fix.get(level, '')}")


# One check per kind: (key, raw value, label, level) → the value, or ConfigError.


def _float(key: Key, raw: object, label: str, level: str) -> float:
    v = finite(raw, *key.bounds)
    if v is None:
        raise _fail(key, label, level, range_text(*key.bounds), raw)
    return v


def _text(key: Key, raw: object, label: str, level: str) -> str:
    if key.name == "gpus" and isinstance(raw, (list, tuple)) and raw:
        raw = ",".join(str(g) for g in raw)  # gpus=[0, 1] (and CodeCarbon's gpu_ids)
    if not isinstance(raw, str) or not raw.strip():
        raise _fail(key, label, level, "non-empty text", raw)
    return raw.strip()


def _choice(key: Key, raw: object, label: str, level: str) -> str:
    word = _text(key, raw, label, level).lower()
    if word not in key.bounds:
        raise _fail(key, label, level, f"one of {', '.join(key.bounds)}", raw)
    return word


PG_SCHEMES = ("postgresql", "postgres")  # the URLs the db setting takes (a PostgreSQL store)


def url_scheme(target: object) -> str | None:
    """The lower-cased scheme when ``target`` is a URL (``scheme://...``), else None (a path)."""
    if not isinstance(target, str):
        return None
    import re  # lazily: only the db setting needs it

    m = re.match(r"([a-z][a-z0-9+.-]*)://", target.strip(), re.IGNORECASE)
    return m[1].lower() if m else None


def url_problem(target: object) -> str | None:
    """Why ``target`` cannot name a store (a URL of another kind), or None. Never repeats the
    URL itself: it may hold a password."""
    scheme = url_scheme(target)
    if scheme is None or scheme in PG_SCHEMES:
        return None
    return f"db is a URL ({scheme}://...) of a kind wattprint cannot store in; give a file path or a postgresql:// URL"


def _path(key: Key, raw: object, label: str, level: str) -> str:
    text = os.fspath(raw) if isinstance(raw, os.PathLike) else raw
    text = _text(key, text, label, level)
    if key.name == "db" and (scheme := url_scheme(text)):  # never taken as a path ("postgresql:" dirs)
        if scheme not in PG_SCHEMES:
            raise ConfigError(f"{label}: {url_problem(text)}")  # the URL itself is not shown: a password
        return text  # a PostgreSQL store (wattprint.store.open)
    path = os.path.expanduser(text)
    if key.kind == "dir" and not os.path.isdir(path):
        raise _fail(key, label, level, "an existing directory", path)
    return path


def _bool(key: Key, raw: object, label: str, level: str) -> bool | None:
    if isinstance(raw, str) and level in ("env", "argument"):  # a file has real booleans
        word = raw.strip().lower()
        raw = True if word in _TRUE else False if word in _FALSE else raw
    if not isinstance(raw, bool):
        raise _fail(key, label, level, "true or false", raw)
    if label in _NEGATED_ENV:  # WATTPRINT_NO_CLOUD_PROBE=1 → off; =0 → automatic (unset)
        return False if raw else None
    return raw


def _baseline(key: Key, raw: object, label: str, level: str) -> object:
    if raw == "stored" or (level == "argument" and hasattr(raw, "power_w")):  # a Baseline object
        return raw
    v = finite(raw, 0.0, DAY_S, True)
    if v is None:
        raise _fail(key, label, level, f"'stored' or {range_text(0.0, DAY_S, True)} of seconds", raw)
    return v


def _strlist(key: Key, raw: object, label: str, level: str) -> list[str]:
    if not isinstance(raw, (list, tuple)) or not all(isinstance(a, str) for a in raw):
        raise _fail(key, label, level, "a list of strings", raw)
    return list(raw)


def _tags(key: Key, raw: object, label: str, level: str) -> dict[str, str]:
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) and k for k in raw):
        raise _fail(key, label, level, "a dict of name: value", raw)
    return {k: str(v) for k, v in raw.items()}


def _pid(key: Key, raw: object, label: str, level: str) -> int:
    if raw == "self":
        return os.getpid()
    if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
        raise _fail(key, label, level, "a PID or 'self'", raw)
    return raw


def _store(key: Key, raw: object, label: str, level: str) -> bool:
    if not isinstance(raw, bool):
        raise _fail(key, label, level, "True, False or a database path", raw)
    return raw


def _port(key: Key, raw: object, label: str, level: str) -> int:
    text = raw.strip() if isinstance(raw, str) and level in ("env", "argument") else raw
    if isinstance(text, str) and text.isdigit():
        text = int(text)
    if isinstance(text, bool) or not isinstance(text, int) or not 0 <= text <= 65535:
        raise _fail(key, label, level, "a port number from 0 to 65535", raw)
    return text


def _url(key: Key, raw: object, label: str, level: str) -> str:
    from urllib.parse import urlsplit  # lazily: only the exporters' keys need it

    text = _text(key, raw, label, level)
    try:
        parts = urlsplit(text)
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        ok = False
    if not ok:
        from wattprint.privacy import mask_text  # a URL may carry user:password@

        raise _fail(key, label, level, "an http:// or https:// URL with a host", mask_text(str(raw)))
    return text


def _as_given(key: Key, raw: object, label: str, level: str) -> object:
    return raw


def _embodied(key: Key, raw: object, label: str, level: str) -> object:
    from wattprint.embodied import check_figures  # lazily: only runs with embodied figures need it

    return check_figures(raw, label)


_PARSERS: dict[str, Callable[[Key, object, str, str], object]] = {
    "float": _float, "str": _text, "choice": _choice, "path": _path, "dir": _path, "bool": _bool,
    "baseline": _baseline, "strlist": _strlist, "tags": _tags, "pid": _pid, "store": _store,
    "object": _as_given, "port": _port, "url": _url, "embodied": _embodied,
}


def _parse(key: Key, raw: object, label: str, level: str) -> object:
    return _PARSERS[key.kind](key, raw, label, level)


# -- keywords: our names, CodeCarbon's, typos --------------------------------------------------

# CodeCarbon spelling → ours (mapped with a note).
CODECARBON_MAP = {
    "country_iso_code": "country",
    "measure_power_secs": "interval",
    "project_name": "name",
    "gpu_ids": "gpus",
    "co2_signal_api_key": "electricitymaps_api_key",
}
# CodeCarbon options with no one-to-one equivalent → what to do instead (refused).
CODECARBON_REFUSED = {
    "save_to_file": "runs are stored in wattprint's database: store=False not to, store='runs.db' "
                    "for a file of your own",
    "output_dir": "use store='DIR/runs.db' for the database, or 'wattprint export' for CSV/JSON",
    "output_file": "use store='FILE.db' for the database, or 'wattprint export' for CSV/JSON",
    "log_level": "wattprint does not log; it warns once per cause with WattprintWarning (use the "
                 "warnings module to filter)",
    "tracking_mode": "the whole machine is always measured; add process='self' (or a PID) for a "
                     "process's share",
    "save_to_api": "wattprint has no remote API; runs go to its database",
    "save_to_logger": "wattprint does not log; read the returned run or the database",
    "save_to_prometheus": "use prometheus_pushgateway='http://HOST:9091' (or prometheus_port=N to be "
                          "scraped; see docs/monitoring.md)",
    "experiment_id": "use name=... and tags={...}",
    "default_cpu_power": "the CPU's TDP comes from wattprint's table (see 'wattprint doctor')",
    "allow_multiple_runs": "runs may always overlap; open windows with run.window(name)",
}


def _outside_wattprint() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside wattprint."""
    import sys

    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(2), 2  # frame 1 is the warn() caller (level 1), frame 2 its caller
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level


def check_keywords(kwargs: Mapping[str, object], where: str = "track()") -> dict[str, object]:
    """``kwargs`` with CodeCarbon spellings mapped to ours (one warning each).

    Anything that is not a setting raises a one-line :class:`ConfigError` naming the
    nearest known keyword; tags go in ``tags={...}``, never as loose keywords.
    """
    out = {name: value for name, value in kwargs.items() if name in KEY}
    for name, value in kwargs.items():
        if name in KEY:
            continue
        if name in CODECARBON_MAP:
            ours = CODECARBON_MAP[name]
            import warnings

            from wattprint.errors import WattprintWarning

            warnings.warn(f"wattprint: {where}: '{name}' is CodeCarbon's name; read as '{ours}' "
                          f"(write {ours}=... to silence this)", WattprintWarning,
                          stacklevel=_outside_wattprint())
            if out.get(ours) is None:  # ours, when given too, wins
                out[ours] = value
        elif name in CODECARBON_REFUSED:
            raise ConfigError(f"{where}: '{name}' is a CodeCarbon option wattprint does not take: "
                              f"{CODECARBON_REFUSED[name]}")
        else:
            import difflib

            near = difflib.get_close_matches(name, [*KEY, *CODECARBON_MAP], n=1, cutoff=0.6)
            near = [CODECARBON_MAP.get(n, n) for n in near]
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise ConfigError(f"{where}: unknown keyword '{name}'{hint} (labels go in tags={{...}}; "
                              "every setting is listed in wattprint.settings.KEYS)")
    return out


# -- the settings -----------------------------------------------------------------------------


class Settings:
    """The settings of one run or command: every value found, best source first."""

    __slots__ = ("_found",)

    def __init__(self, found: dict[str, list[tuple[object, str, str]]] | None = None) -> None:
        # name → [(value, label, level), ...], highest precedence first
        self._found: dict[str, list[tuple[object, str, str]]] = found or {}

    def get(self, name: str) -> Any:
        """The value that wins for ``name``, else its default."""
        found = self._found.get(name)
        return found[0][0] if found else KEY[name].default

    def source(self, name: str) -> str:
        """Where the winning value came from: ``--pue``, ``WATTPRINT_PUE``, ``file:line``, ``default``."""
        found = self._found.get(name)
        return found[0][1] if found else ("default" if KEY[name].default is not None else "unset")

    def is_set(self, name: str) -> bool:
        return name in self._found

    def layers(self, name: str) -> list[tuple[object, str, str]]:
        """Every ``(value, label, level)`` that set ``name``, best first (the location chain)."""
        return list(self._found.get(name, ()))

    def location_is_set(self) -> bool:
        return any(k in self._found for k in LOCATION_KEYS)

    def provenance(self) -> dict[str, tuple[object, str]]:
        """Each setting that was given, with its source: ``{name: (value, label)}``."""
        return {k: (v[0][0], v[0][1]) for k, v in self._found.items()}

    def describe(self) -> list[str]:
        """``name = value  (source)`` for each setting given, best source only; secrets masked (the
    secret settings whole, and a password inside a value such as a ``postgresql://`` URL)."""
        lines = []
        for name, (value, label) in self.provenance().items():
            shown = "***" if name in SECRET_KEYS else mask_text(repr(value))  # a db URL's password
            lines.append(f"{name} = {shown}  ({label})")
        return lines

    def with_arguments(self, arguments: Mapping[str, object], labels: Mapping[str, str] | None = None,
                       where: str = "Tracker()") -> Settings:
        """A copy where ``arguments`` (checked like any other) come first."""
        found = {k: list(v) for k, v in self._found.items()}
        for name, (value, label) in _arguments(arguments, labels or {}, where).items():
            found[name] = [(value, label, "argument"), *found.get(name, [])]
        return Settings(found)

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={'***' if k in SECRET_KEYS else mask_text(repr(v))} ({src})"
                          for k, (v, src) in self.provenance().items())
        return f"Settings({items})"


def _arguments(arguments: Mapping[str, object], labels: Mapping[str, str],
               where: str) -> dict[str, tuple[object, str]]:
    out: dict[str, tuple[object, str]] = {}
    for name, raw in check_keywords(arguments, where).items():
        if raw is None:
            continue
        label = labels.get(name, f"argument {name}")
        if name == "store" and isinstance(raw, (str, os.PathLike)):  # store="runs.db" names the database
            out["db"] = (_parse(KEY["db"], raw, label, "argument"), label)
            raw = True
        out[name] = (_parse(KEY[name], raw, label, "argument"), label)
    return out


def load(arguments: Mapping[str, object] | None = None, *, labels: Mapping[str, str] | None = None,
         env: Mapping[str, str] | None = None, files: list[tuple[str, Path]] | None = None,
         cwd: Path | None = None, where: str = "Tracker()") -> Settings:
    """Read every source once and check every value found.

    ``arguments``: API keywords or CLI values (None = not given), ``labels`` their
    names for messages (``{"pue": "--pue"}``). ``env`` replaces ``os.environ``;
    ``files`` replaces the config files found (``[(level, path)]``, best first).
    Raises :class:`ConfigError` (one line) for any bad value or file.
    """
    env = os.environ if env is None else env
    found: dict[str, list[tuple[object, str, str]]] = {}
    for name, (value, label) in _arguments(arguments or {}, labels or {}, where).items():
        found[name] = [(value, label, "argument")]
    for key in KEYS:
        var = key.env
        raw = env.get(var) if var else None
        if var and raw is not None and raw.strip():  # VAR= (empty) means unset, as shells use it
            value = _parse(key, raw, var, "env")
            if value is not None:
                found.setdefault(key.name, []).append((value, var, "env"))
    if files is None:
        files = config_paths(env, cwd)
        user = env.get("WATTPRINT_CONFIG")
        if user and not os.path.exists(os.path.expanduser(user)):
            raise ConfigError(f"WATTPRINT_CONFIG: no such file '{user}' (fix or unset it)")
    for level, path in files:
        if not path.is_file():
            continue
        data, lines = read_file(path)
        _warn_near_misses(data, lines, path)
        for key in KEYS:
            if key.file and key.file in data:
                label = f"{path}:{lines[key.file]}" if key.file in lines else str(path)
                found.setdefault(key.name, []).append((_parse(key, data[key.file], label, level), label, level))
    return Settings(found)


_FILE_KEYS = {k.file: k for k in KEYS if k.file}


def _warn_near_misses(data: Mapping[str, object], lines: Mapping[str, int], path: Path) -> None:
    """A top-level key that is not ours but nearly is (``contry``) gets a warning, once.

    Other unknown keys are left alone so that an older wattprint reads a newer file
    and other tools may keep their own tables in it.
    """
    unknown = [k for k, v in data.items() if k not in _FILE_KEYS and not isinstance(v, dict)]
    if not unknown:
        return
    import difflib
    import warnings

    from wattprint.errors import WattprintWarning

    for name in unknown:
        near = difflib.get_close_matches(name, list(_FILE_KEYS), n=1, cutoff=0.75)
        if near:
            where = f"{path}:{lines[name]}" if name in lines else str(path)
            warnings.warn(f"wattprint: {where}: unknown key '{name}' ignored; did you mean '{near[0]}'?",
                          WattprintWarning, stacklevel=_outside_wattprint())
