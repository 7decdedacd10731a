"""The timeline's rollup: runs of stored intervals summed per UTC minute and per UTC hour.

A week at 1 s is 604,800 stored intervals; a chart of it needs a few hundred
steps. Reading every interval to draw it took over a second, so the store also
keeps, per run and per step (:data:`STEPS`: 60 s and 3600 s), rows that each sum a
run of *consecutive stored intervals*: positions ``[seq, seq + n)`` of the
timeline, which follow one another without a gap (each starts where the previous
one ended) and start in the same UTC bucket of ``step`` seconds (``wall0 //
step``). A row's energy per channel is the sum of its intervals' energy, its
span runs from the first one's start to the last one's end; so every rolled-up
row maps back to exactly the stored intervals it sums, and a chart drawn from
rolled-up rows shows the stored energy, joule for joule.

The store writes these rows in the same transaction as the intervals
(:meth:`wattprint.store.sql.SqlStore.save_progress`): the last row of each step
stays open and grows with the next write while its bucket lasts. Runs stored
before the rollup existed get it built on first read. This module holds only
the arithmetic; the SQL is in :mod:`wattprint.store.sql`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from wattprint.tracking.measure import Interval

STEPS = (60, 3600)  # seconds of UTC time per bucket, finest first


class Rolled:
    """One rolled-up row: the stored intervals ``[seq, seq + n)`` summed into ``iv``."""

    __slots__ = ("seq", "n", "bucket", "iv")

    def __init__(self, seq: int, n: int, bucket: int, iv: Interval) -> None:
        self.seq = seq
        self.n = n
        self.bucket = bucket
        self.iv = iv

    def copy(self) -> Rolled:
        iv = self.iv
        return Rolled(self.seq, self.n, self.bucket, Interval(iv.t0_s, iv.t1_s, iv.wall0, dict(iv.energy_j)))

    @property
    def end(self) -> int:
        """The timeline position after this row's last interval."""
        return self.seq + self.n


def roll(rows: Iterable[Interval], seq: int, step: int, last: Rolled | None = None) -> list[Rolled]:
    """The rolled-up rows of the intervals ``rows``, which sit at timeline positions from
    ``seq`` on. ``last``: the run's rolled-up row that ends at ``seq`` (the open one); the
    first intervals extend it (in place; it is then the first row returned) while they follow
    it without a gap in its bucket."""
    out: list[Rolled] = []
    cur = last if last is not None and last.end == seq else None
    for iv in rows:
        bucket = int(iv.wall0 // step)
        if cur is not None and iv.t0_s == cur.iv.t1_s and bucket == cur.bucket:
            cur.n += 1
            cur.iv.t1_s = iv.t1_s
            sums = cur.iv.energy_j
            for name, e in iv.energy_j.items():
                sums[name] = sums.get(name, 0.0) + e
        else:
            cur = Rolled(seq, 1, bucket, Interval(iv.t0_s, iv.t1_s, iv.wall0, dict(iv.energy_j)))
        if not out or out[-1] is not cur:
            out.append(cur)
        seq += 1
    return out


def row_params(run_id: str, step: int, r: Rolled) -> tuple[Any, ...]:
    """The ``timeline_rollup`` columns of ``r``, in table order."""
    return (run_id, step, r.seq, r.n, r.iv.t0_s, r.iv.t1_s, r.iv.wall0, json.dumps(r.iv.energy_j))


def from_row(r: Mapping[str, Any], step: int) -> Rolled:
    """A stored ``timeline_rollup`` row back as a :class:`Rolled`."""
    wall0 = float(r["wall0"])
    return Rolled(int(r["seq"]), int(r["n"]), int(wall0 // step),
                  Interval(float(r["t0_s"]), float(r["t1_s"]), wall0, json.loads(r["energy"])))


def in_range(rows: Iterable[Rolled], t0: float | None, t1: float | None) -> list[Rolled]:
    """The rows that overlap ``(t0, t1)`` (seconds since the run's start; open ends when None)."""
    lo = -float("inf") if t0 is None else t0
    hi = float("inf") if t1 is None else t1
    return [r for r in rows if r.iv.t1_s > lo and r.iv.t0_s < hi]


def step_for(span_s: float, max_rows: int) -> int:
    """The finest step whose rows over ``span_s`` seconds number at most ``max_rows``
    (the coarsest when none does)."""
    for step in STEPS:
        if span_s / step <= max_rows:
            return step
    return STEPS[-1]


_UPSERT = ("INSERT INTO timeline_rollup VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(run_id, step, seq) DO UPDATE SET "
           "n=excluded.n, t1_s=excluded.t1_s, energy=excluded.energy")


class RollupStore:
    """The rollup's statements, mixed into :class:`~wattprint.store.sql.SqlStore` (which
    provides the connection, its lock and :meth:`iter_timeline`)."""

    readonly: bool
    _lock: Any
    _rolled: dict[str, dict[int, Rolled]]  # per run written by this store: each step's last row

    def _tuples(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _dicts(self, sql: str, params: tuple[Any, ...] = ()) -> list[Mapping[str, Any]]:
        raise NotImplementedError

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        raise NotImplementedError

    def _executemany(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def _transaction(self) -> Any:
        raise NotImplementedError

    def _interval_count(self, run_id: str) -> int:
        raise NotImplementedError

    def iter_timeline(self, run_id: str, batch: int = 256, *, start: int = 0,
                      stop: int | None = None) -> Iterator[Interval]:
        raise NotImplementedError

    def _roll_written(self, rid: str, seq: int, rows: list[Interval]) -> dict[int, Rolled]:
        """Roll up ``rows``, just written at positions from ``seq`` (inside the caller's
        transaction); returns each step's last row, to remember once committed."""
        known = self._rolled.get(rid)
        last_rows: dict[int, Rolled] = {}
        for step in STEPS:
            last = known.get(step) if known is not None else self._last_rolled(rid, step)
            out = roll(rows, seq, step, last.copy() if last is not None else None)
            self._executemany(_UPSERT, [row_params(rid, step, r) for r in out])
            found = out[-1] if out else last
            if found is not None:
                last_rows[step] = found
        return last_rows

    def _last_rolled(self, rid: str, step: int) -> Rolled | None:
        found = self._dicts("SELECT * FROM timeline_rollup WHERE run_id=? AND step=? ORDER BY seq DESC LIMIT 1",
                            (rid, step))
        return from_row(found[0], step) if found else None

    def timeline_rollup(self, run_id: str, step: int, t0: float | None = None, t1: float | None = None, *,
                        keep: bool = False) -> list[Rolled]:
        """The rolled-up rows of the run ``run_id`` (a full id) at ``step`` seconds (one of
        :data:`STEPS`) that overlap ``(t0, t1)`` (seconds since its start), oldest first;
        together they hold every interval stored so far in that range.

        Intervals the stored rollup lacks (a run stored before it existed, or rows being
        written) are read and rolled up here; ``keep``: store those (pass it for runs no
        longer being written; a read-only store keeps nothing).
        """
        where = "run_id=? AND step=?"
        params: tuple[Any, ...] = (run_id, step)
        if t0 is not None:
            where, params = where + " AND t1_s>?", (*params, t0)
        if t1 is not None:
            where, params = where + " AND t0_s<?", (*params, t1)
        with self._lock:
            total, end = self._tuples("SELECT COALESCE(SUM(n), 0), COALESCE(MAX(seq+n), 0) FROM timeline_rollup "
                                      "WHERE run_id=? AND step=?", (run_id, step))[0]
            stored = self._dicts(f"SELECT * FROM timeline_rollup WHERE {where} ORDER BY seq", params)  # noqa: S608
            count = self._interval_count(run_id)
        whole = int(total) == int(end)  # no hole: the rows cover positions [0, end) exactly
        end = int(end) if whole else 0
        rows = [from_row(r, step) for r in stored] if whole else []
        if rows:  # a writer's rows committed between the two reads: none of their intervals is read twice
            end = max(end, rows[-1].end)
        if end >= count:
            return rows
        tail = roll(self.iter_timeline(run_id, start=end), end, step)
        if keep and not self.readonly:
            with self._lock, self._transaction():
                if not whole:
                    self._execute("DELETE FROM timeline_rollup WHERE run_id=? AND step=?", (run_id, step))
                self._executemany(_UPSERT, [row_params(run_id, step, r) for r in tail])
            self._rolled.pop(run_id, None)
        return rows + in_range(tail, t0, t1)
