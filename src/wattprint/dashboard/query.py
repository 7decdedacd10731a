"""The runs list's filters (read from the query string) and the totals per day or week.

:class:`RunFilter` is the form's fields as text, checked; :meth:`RunFilter.where`
hands them to the store as a :class:`~wattprint.store.runquery.RunWhere`, so the
database selects and pages the runs (SQLite and PostgreSQL alike). The totals
sum the few columns the store returns for every selected run.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from wattprint.errors import WattprintError
from wattprint.store.runquery import RunWhere
from wattprint.units import j_to_kwh

DAY_S = 86400.0
PAGE_SIZE = 100
OPTIONAL_FIELDS = ("project", "owner")  # shown where the store has any value for them
TOTAL_COLUMNS = ("start_utc", "energy_j", "emissions_g", "project", "owner", "host")


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

    ``since``/``until`` are UTC dates (``until`` takes its whole day);
    ``fallback`` is ``yes`` (the world-average intensity was used) or ``no``;
    the others match as :mod:`wattprint.store.runquery` says.
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

    def where(self) -> RunWhere:
        """The filter as the store's query (:mod:`wattprint.store.runquery`), which the database answers."""
        lo, hi = self.bounds()
        return RunWhere(q=self.q, name=self.name, host=self.host, project=self.project, owner=self.owner,
                        tag=self.tag, status=self.status, since=None if lo == -math.inf else lo,
                        until=None if hi == math.inf else hi,
                        fallback=None if not self.fallback else self.fallback == "yes")


def page(store: Any, where: RunWhere, number: int, size: int = PAGE_SIZE) -> tuple[list[Any], int, int, int]:
    """The runs on page ``number`` (1-based, clamped to the pages there are) of those ``where``
    selects, read by the store a page at a time; that page's number, the number of pages and
    of runs selected."""
    _, matched = store.find_runs(where, limit=0)
    pages = max(1, math.ceil(matched / size))
    number = min(max(1, number), pages)
    shown, matched = store.find_runs(where, limit=size, offset=(number - 1) * size)
    return shown, number, pages, matched


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
