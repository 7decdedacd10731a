"""The runs list's filters and the totals per day or week, over the store's run headers.

Everything here works on :class:`~wattprint.tracking.record.RunHeader` rows as
``list_runs()`` gives them (any store with that method), so nothing depends
on SQL. ``project`` and ``owner`` are filtered when the store's headers carry
them (stores written before those fields have none: the filter then matches
nothing but an empty value, and the form does not offer it).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from wattprint.errors import WattprintError
from wattprint.units import j_to_kwh

DAY_S = 86400.0
PAGE_SIZE = 100
OPTIONAL_FIELDS = ("project", "owner")  # header fields only some stores have


class QueryError(WattprintError):
    """A filter the dashboard cannot read (a bad date, an unknown period): HTTP 400."""


def _day(text: str, what: str) -> float | None:
    """Unix seconds of a ``YYYY-MM-DD`` date at 00:00 UTC, or None for an empty field."""
    text = text.strip()
    if not text:
        return None
    try:
        d = dt.date.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{what} must be a date as YYYY-MM-DD, got '{text[:40]}'") from None
    return dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).timestamp()


@dataclass(frozen=True)
class RunFilter:
    """What the runs list, the totals and compare-by-filter select; every field optional.

    ``q`` searches id, name, host, command and tags (case-insensitive);
    ``name``, ``host``, ``project`` and ``owner`` match a part of the field;
    ``tag`` is ``key`` (the tag is set) or ``key=value``; ``status`` is exact;
    ``since``/``until`` are UTC dates (``until`` takes its whole day);
    ``fallback`` is ``yes`` (the world-average intensity was used) or ``no``.
    """

    q: str = ""
    name: str = ""
    tag: str = ""
    host: str = ""
    status: str = ""
    since: str = ""
    until: str = ""
    fallback: str = ""
    project: str = ""
    owner: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> RunFilter:
        """The filter from a query string (unknown keys ignored); a :class:`QueryError` when bad."""
        values = {f.name: str(params.get(f.name, "") or "").strip()[:200] for f in fields(cls)}
        flt = cls(**values)
        if flt.fallback not in ("", "yes", "no"):
            raise QueryError(f"fallback must be yes or no, got '{flt.fallback[:40]}'")
        flt.bounds()  # dates checked now
        return flt

    def bounds(self) -> tuple[float, float]:
        """``[since, until + 1 day)`` in Unix seconds (infinite when not set)."""
        lo = _day(self.since, "since")
        hi = _day(self.until, "until")
        return (-math.inf if lo is None else lo, math.inf if hi is None else hi + DAY_S)

    def params(self) -> dict[str, str]:
        """The fields that are set (for links that keep the filter)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def matches(self, run: Mapping[str, Any], lo: float, hi: float) -> bool:
        if self.status and run.get("status") != self.status:
            return False
        start = run.get("start_utc") or 0.0
        if not lo <= start < hi:
            return False
        for key in ("name", "host", *OPTIONAL_FIELDS):
            want = getattr(self, key)
            if want and want.lower() not in str(run.get(key) or "").lower():
                return False
        if self.fallback and bool((run.get("intensity") or {}).get("fallback")) != (self.fallback == "yes"):
            return False
        if self.tag and not _tag_matches(run.get("tags") or {}, self.tag):
            return False
        return not self.q or self.q.lower() in _haystack(run)

    def select(self, runs: Iterable[Mapping[str, Any]]) -> list[Any]:
        lo, hi = self.bounds()
        return [r for r in runs if self.matches(r, lo, hi)]


def _tag_matches(tags: Mapping[str, Any], want: str) -> bool:
    key, sep, value = want.partition("=")
    if not sep:
        return key in tags
    return key in tags and str(tags[key]) == value


def _haystack(run: Mapping[str, Any]) -> str:
    tags = " ".join(f"{k}={v}" for k, v in (run.get("tags") or {}).items())
    command = " ".join(str(a) for a in run.get("command") or [])
    parts = [run.get("id"), run.get("name"), run.get("host"), command, tags,
             *(run.get(k) for k in OPTIONAL_FIELDS)]
    return " ".join(str(p) for p in parts if p).lower()


def facets(runs: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The values the filter form offers: statuses, hosts, and projects/owners where stored."""
    seen: dict[str, set[str]] = {"status": set(), "host": set(), **{k: set() for k in OPTIONAL_FIELDS}}
    present: set[str] = set()
    for r in runs:
        for key in seen:
            if key in r:
                present.add(key)
                if r[key]:
                    seen[key].add(str(r[key]))
    return {k: sorted(v) for k, v in seen.items() if k in present}


def page(runs: list[Any], number: int, size: int = PAGE_SIZE) -> tuple[list[Any], int, int]:
    """Runs on page ``number`` (1-based, clamped to the pages there are), that page's number,
    and the number of pages."""
    pages = max(1, math.ceil(len(runs) / size))
    number = min(max(1, number), pages)
    return runs[(number - 1) * size : number * size], number, pages


def period_start(ts: float, period: str) -> float:
    """The UTC day (or ISO week, from Monday) ``ts`` falls in, as Unix seconds."""
    day = math.floor(ts / DAY_S) * DAY_S
    if period == "day":
        return day
    weekday = dt.datetime.fromtimestamp(day, dt.timezone.utc).weekday()  # Monday = 0
    return day - weekday * DAY_S


def totals(runs: Iterable[Mapping[str, Any]], period: str) -> list[dict[str, Any]]:
    """Energy and emissions per UTC day or week (a run counts in the period it started in),
    oldest first. ``unpriced`` counts runs without emissions (left out of ``emissions_g``)."""
    if period not in ("day", "week"):
        raise QueryError(f"period must be day or week, got '{period[:40]}'")
    out: dict[float, dict[str, Any]] = {}
    for r in runs:
        key = period_start(float(r.get("start_utc") or 0.0), period)
        row = out.setdefault(key, {"start_utc": key, "runs": 0, "energy_j": 0.0, "emissions_g": 0.0,
                                   "unpriced": 0})
        row["runs"] += 1
        row["energy_j"] += float(r.get("energy_j") or 0.0)
        g = r.get("emissions_g")
        if g is None or not math.isfinite(g):
            row["unpriced"] += 1
        else:
            row["emissions_g"] += g
    rows = [out[k] for k in sorted(out)]
    for row in rows:
        row["energy_kwh"] = j_to_kwh(row["energy_j"])
    return rows


def group_totals(runs: Iterable[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
    """Energy and emissions per value of ``key`` (host, project, owner, name), largest first."""
    out: dict[str, dict[str, Any]] = {}
    for r in runs:
        name = str(r.get(key) or "")
        row = out.setdefault(name, {"key": name, "runs": 0, "energy_j": 0.0, "emissions_g": 0.0})
        row["runs"] += 1
        row["energy_j"] += float(r.get("energy_j") or 0.0)
        g = r.get("emissions_g")
        if g is not None and math.isfinite(g):
            row["emissions_g"] += g
    rows = sorted(out.values(), key=lambda x: -x["energy_j"])
    for row in rows:
        row["energy_kwh"] = j_to_kwh(row["energy_j"])
    return rows
