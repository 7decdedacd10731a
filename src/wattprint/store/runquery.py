"""Which runs: filters the database answers (the dashboard's runs list, totals and compare).

:class:`RunWhere` says what to select; :meth:`RunWhere.sql` turns it into a
``WHERE`` clause with ``?`` placeholders that SQLite and PostgreSQL both run
(the substring test is the one word that differs: ``instr`` in SQLite,
``strpos`` in PostgreSQL, passed in by the store). :class:`RunQueries` holds
the reads, mixed into :class:`~wattprint.store.sql.SqlStore`: a page of run
headers with the number matched, chosen columns of every matching run (for
totals, without building each header), and the values the filter form offers.

Matching rules: ``name``, ``host``, ``project``, ``owner`` and ``q`` are
case-insensitive substrings (SQLite lowers ASCII letters only); ``q`` searches
the id, name, host, project, owner, command and tags, and ``k=v`` in ``q`` also
finds the tag ``k`` set to ``v``; ``tag`` is ``key`` (set) or ``key=value``
(equal, case-sensitive; tags are strings); ``status`` is exact (a run stored
as running whose process is gone on this host reads as killed: those two are
judged row by row); ``since``/``until`` are Unix seconds, ``[since, until)``;
``fallback``: the world-average intensity was (True) or was not (False) used.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wattprint.tracking.record import RunHeader

_TEXT_FIELDS = ("name", "host", "project", "owner")
_SEARCHED = ("id", "name", "host", "project", "owner")  # plain text columns ``q`` searches
_JUDGED = ("running", "killed")  # statuses decided per row (see the module's docstring)
FACETS = ("status", "host", "project", "owner")


def _json_inner(text: str) -> str:
    """``text`` as it appears inside a JSON string the store wrote (``json.dumps``)."""
    return json.dumps(text)[1:-1]


@dataclass(frozen=True)
class RunWhere:
    """What to select; every field optional (empty: no condition)."""

    q: str = ""
    name: str = ""
    host: str = ""
    project: str = ""
    owner: str = ""
    tag: str = ""
    status: str = ""
    since: float | None = None
    until: float | None = None
    fallback: bool | None = None
    names: tuple[str, ...] = ()  # exact names (compare's repeats)
    partials: bool = True  # False: leave out ranks' partial runs of jobs (their job view counts them)

    def sql(self, find: str) -> tuple[str, tuple[Any, ...]]:
        """``(clause, params)``: a condition on ``runs`` (``1=1`` when nothing is set); ``find``
        is the database's substring function (``find(haystack, needle) > 0``)."""
        conds: list[str] = []
        params: list[Any] = []

        def has(column: str, needle: str) -> str:
            params.append(needle)
            return f"{find}({column}, ?) > 0"

        for key in _TEXT_FIELDS:
            want = getattr(self, key)
            if want:
                conds.append(has(f"LOWER(COALESCE({key}, ''))", want.lower()))
        if self.status:
            conds.append("status IN (?, ?)" if self.status in _JUDGED else "status=?")
            params.extend(_JUDGED if self.status in _JUDGED else (self.status,))
        if self.since is not None:
            conds.append("start_utc>=?")
            params.append(self.since)
        if self.until is not None:
            conds.append("start_utc<?")
            params.append(self.until)
        if self.fallback is not None:
            conds.append(("" if self.fallback else "NOT ") + has("COALESCE(intensity, '')", '"fallback": true'))
        if self.tag:
            conds.append(has("tags", _tag_text(self.tag)))
        if self.names:
            conds.append(f"name IN ({','.join('?' * len(self.names))})")
            params.extend(self.names)
        if not self.partials:
            conds.append("job_rank IS NULL")
        if self.q:
            conds.append(self._search(has))
        return " AND ".join(conds) or "1=1", tuple(params)

    def _search(self, has: Any) -> str:
        q = self.q.lower()
        inner = _json_inner(q)
        alts = [has(f"LOWER(COALESCE({c}, ''))", q) for c in _SEARCHED]
        alts += [has("LOWER(COALESCE(command, ''))", inner), has("LOWER(tags)", inner)]
        if "=" in q:
            alts.append(has("LOWER(tags)", _tag_text(q)))
        return "(" + " OR ".join(alts) + ")"

    def judged(self, runs: Iterable[RunHeader]) -> list[RunHeader]:
        """The rows a SQL ``status`` condition could only narrow down, judged as read."""
        if self.status not in _JUDGED:
            return list(runs)
        return [r for r in runs if r["status"] == self.status]


def _tag_text(tag: str) -> str:
    """The text of the tag ``key`` (set) or ``key=value`` inside the stored tags' JSON."""
    key, sep, value = tag.partition("=")
    return json.dumps(key) + ": " + (json.dumps(value) if sep else "")


class RunQueries:
    """The filtered reads, mixed into :class:`~wattprint.store.sql.SqlStore`."""

    _FIND = "instr"  # the substring function (PostgreSQL: strpos)
    _lock: Any

    def _dicts(self, sql: str, params: tuple[Any, ...] = ()) -> list[Mapping[str, Any]]:
        raise NotImplementedError

    def _tuples(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _header(self, r: Mapping[str, Any]) -> RunHeader:
        raise NotImplementedError

    def find_runs(self, where: RunWhere, *, limit: int | None = None, offset: int = 0
                  ) -> tuple[list[RunHeader], int]:
        """The headers of the runs ``where`` selects, newest first, ``limit`` of them from
        ``offset``; and how many it selects in all."""
        clause, params = where.sql(self._FIND)
        if where.status in _JUDGED:  # few rows, judged one by one, then paged here
            found = where.judged(self._select(clause, params, ""))
            return found[offset: None if limit is None else offset + limit], len(found)
        with self._lock:
            total = int(self._tuples(f"SELECT COUNT(*) FROM runs WHERE {clause}", params)[0][0])  # noqa: S608
        tail, extra = (" LIMIT ? OFFSET ?", (limit, offset)) if limit is not None else ("", ())
        return self._select(clause, params + extra, tail), total

    def _select(self, clause: str, params: tuple[Any, ...], tail: str) -> list[RunHeader]:
        sql = f"SELECT * FROM runs WHERE {clause} ORDER BY start_utc DESC, id{tail}"  # noqa: S608 - built here
        with self._lock:
            rows = self._dicts(sql, params)
        return [self._header(r) for r in rows]

    def run_values(self, where: RunWhere, columns: Sequence[str]) -> list[dict[str, Any]]:
        """``columns`` (of ``runs``: plain columns, not JSON) of every run ``where`` selects,
        newest first, as mappings: totals over many runs without building their headers."""
        bad = [c for c in columns if not c.isidentifier()]
        if bad:
            raise ValueError(f"not a column: {bad[0]!r}")
        clause, params = where.sql(self._FIND)
        if where.status in _JUDGED:
            return [{c: r.get(c) for c in columns} for r in self.find_runs(where)[0]]
        sql = f"SELECT {', '.join(columns)} FROM runs WHERE {clause} ORDER BY start_utc DESC, id"  # noqa: S608
        with self._lock:
            return [dict(r) for r in self._dicts(sql, params)]

    def run_facets(self) -> dict[str, list[str]]:
        """The values stored in ``status``, ``host``, ``project`` and ``owner`` (sorted, at most
        500 each), for a filter form to offer."""
        out: dict[str, list[str]] = {}
        with self._lock:
            for col in FACETS:
                rows = self._tuples(f"SELECT DISTINCT {col} FROM runs WHERE {col} IS NOT NULL "  # noqa: S608
                                    f"ORDER BY {col} LIMIT 500")
                out[col] = [str(r[0]) for r in rows if r[0] != ""]
        return out

    def count_runs(self) -> int:
        """How many runs are stored."""
        with self._lock:
            return int(self._tuples("SELECT COUNT(*) FROM runs")[0][0])
