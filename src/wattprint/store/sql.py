"""The SQL both stores run: writing a run as it goes, reading it back as the run record.

:class:`SqlStore` holds every statement and every decision; a subclass only
says how to talk to its database (:meth:`SqlStore._execute`, ``_executemany``,
``_dicts``, ``_tuples``, ``_transaction``). Statements are written once, with
``?`` placeholders and SQL that SQLite and PostgreSQL both accept (``INSERT
... ON CONFLICT ... DO UPDATE``, ``COALESCE``, ``LIKE ... ESCAPE``); the
PostgreSQL store turns the placeholders into its own. Rows come back as
mappings and are shaped by :mod:`wattprint.store.rows`.

A running run is written at start and then every flush, each write only what
is new (rows and windows since the last one); a run whose process is gone
while it still says "running" reads back as "killed" on its own host.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

from wattprint.errors import StoreError
from wattprint.host import hostname
from wattprint.store.rollup import Rolled, RollupStore
from wattprint.store.rows import (
    channel_record,
    header_record,
    legacy_timeline,
    pack_chunks,
    stat_view,
    timeline_records,
    unpack_chunk,
    window_record,
)
from wattprint.store.runquery import RunQueries
from wattprint.tracking.measure import Interval, window_stats
from wattprint.tracking.record import RunHeader, RunRecord
from wattprint.tracking.timeline import downsample

Row = Mapping[str, Any]

_RUN_COLUMNS = ("id, name, status, command, tags, start_utc, end_utc, duration_s, exit_code, host, pid, "
                "cpu_model, gpu_models, wattprint_version, interval_s, location, intensity_source, intensity, "
                "energy_j, band, emissions_g, market_emissions_g, sensors, faults, attribution, baseline, "
                "gpu_users, owner, project, progress, job_id, job_rank, job_world_size, job_node, job, budget, "
                "prediction, embodied, platform")
# what a later write of the same run updates (owner, project and the run's identity stay as first written)
_RUN_UPDATED = ("status", "end_utc", "duration_s", "exit_code", "location", "intensity_source", "intensity",
                "energy_j", "band", "emissions_g", "market_emissions_g", "sensors", "faults", "attribution",
                "baseline", "gpu_users", "progress", "job", "budget", "prediction", "embodied", "platform")
_UPSERT_RUN = (
    f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({','.join('?' * len(_RUN_COLUMNS.split(',')))}) "
    f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in _RUN_UPDATED)}"
)
_INSERT_WINDOW = ("INSERT INTO windows (run_id, seq, name, parent, offset_s, duration_s, energy_j, emissions_g, "
                  "channels, estimated, start_utc, band, market_emissions_g, progress) "
                  "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
_RUN_COLUMN_NAMES = tuple(c.strip() for c in _RUN_COLUMNS.split(","))
_UPDATED_AT = tuple(_RUN_COLUMN_NAMES.index(c) for c in _RUN_UPDATED)  # their places in a run's row
_Written = tuple[tuple[Any, ...], list[tuple[Any, ...]]]  # a run's row and its channels' rows
_CHANNEL_DESCRIBED = 7  # a channel row's columns before its totals (energy_j, emissions_g)
_CHILD_TABLES = ("channels", "windows", "timeline", "timeline_chunks", "timeline_rollup")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class SqlStore(RollupStore, RunQueries):
    """A run store over one connection, used under a lock (so it is thread-safe)."""

    def __init__(self, conn: Any, path: Any, *, readonly: bool = False) -> None:
        self._conn = conn
        self.path = path
        self.readonly = readonly
        self._lock = threading.Lock()
        self._forget()

    def _forget(self) -> None:
        """Drop what this store remembers of the runs it writes (next timeline and window seq,
        channel sums, where the rows end): it is read again from the database when needed."""
        self._seq: dict[str, int] = {}
        self._wseq: dict[str, int] = {}
        self._sums: dict[str, dict[str, float]] = {}
        self._t1: dict[str, float] = {}
        self._rolled: dict[str, dict[int, Rolled]] = {}
        self._written_heads: dict[str, _Written] = {}  # the run's row and channel rows as last committed

    # -- the database's dialect (subclasses) --------------------------------------

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        raise NotImplementedError

    def _executemany(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def _dicts(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        """Every row of a query, each as a mapping of column name to value."""
        raise NotImplementedError

    def _tuples(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Every row of a query, each as a tuple."""
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[Any]:
        """One transaction: committed on leaving, rolled back on an exception."""
        raise NotImplementedError

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- writing ------------------------------------------------------------------

    def _upsert_run(self, d: Mapping[str, Any]) -> _Written:
        """Write the run's row and its channels; returns what was written, for :meth:`_write` to
        remember once committed.

        A run this store wrote before gets only what changed since (a running run's flush
        changes its duration and totals, seldom more): the row's changed columns, the channels'
        changed totals. The rest, or a row no longer there, is written whole.
        """
        rid = d["id"]
        row, chans = _run_row(d), _channel_rows(d)
        before = self._written_heads.get(rid)
        if before is not None and self._update_run(rid, row, before[0]):
            self._update_channels(rid, chans, before[1])
            return row, chans
        self._execute(_UPSERT_RUN, row)
        self._replace_channels(rid, chans)
        return row, chans

    def _replace_channels(self, rid: str, chans: list[tuple[Any, ...]]) -> None:
        self._execute("DELETE FROM channels WHERE run_id=?", (rid,))
        self._executemany("INSERT INTO channels VALUES (?,?,?,?,?,?,?,?,?)", chans)

    def _update_run(self, rid: str, row: tuple[Any, ...], before: tuple[Any, ...]) -> bool:
        """Update the columns of ``row`` that a later write updates and that differ from
        ``before``; False when one did and the run's row was not there (written whole then;
        a row gone while nothing changed is found at the next change)."""
        changed = [i for i in _UPDATED_AT if row[i] != before[i]]
        if not changed:
            return True
        sets = ", ".join(f"{_RUN_COLUMN_NAMES[i]}=?" for i in changed)
        cur = self._execute(f"UPDATE runs SET {sets} WHERE id=?", (*(row[i] for i in changed), rid))  # noqa: S608 - our columns
        return bool(cur.rowcount)

    def _update_channels(self, rid: str, chans: list[tuple[Any, ...]], before: list[tuple[Any, ...]]) -> None:
        """The channels' totals where only they changed; the whole set when a channel came,
        went or changed its description."""
        n = _CHANNEL_DESCRIBED
        if [c[:n] for c in chans] != [c[:n] for c in before]:
            self._replace_channels(rid, chans)
            return
        self._executemany("UPDATE channels SET energy_j=?, emissions_g=? WHERE run_id=? AND name=?",
                          [(*c[n:], rid, c[1]) for c, b in zip(chans, before) if c[n:] != b[n:]])

    def save_progress(
        self, header: Mapping[str, Any], rows: Iterable[Interval] = (), windows: Iterable[Mapping[str, Any]] = ()
    ) -> None:
        """Write a running run's header and append what is new (one transaction).

        ``header`` is ``Run.to_dict(with_timeline=False, with_windows=False)``;
        ``rows`` (timeline intervals) and ``windows`` (``Window.to_dict()``) are
        those not written before, so a flush costs what happened since the last
        one. The header's totals are the sums of every row written so far.
        """
        self._write(header, rows, windows, (), final=False)

    def save_final(
        self,
        header: Mapping[str, Any],
        rows: Iterable[Interval] = (),
        windows: Iterable[Mapping[str, Any]] = (),
        repriced: Iterable[tuple[int, Mapping[str, Any]]] = (),
    ) -> None:
        """Write the finished run: its header and totals, the last rows and windows.

        ``repriced``: ``(seq, window dict)`` of windows written earlier whose
        emissions changed with the final intensity; only their emissions are updated.
        """
        self._write(header, rows, windows, repriced, final=True)

    def _write(self, header: Mapping[str, Any], rows: Iterable[Interval], windows: Iterable[Mapping[str, Any]],
               repriced: Iterable[tuple[int, Mapping[str, Any]]], *, final: bool) -> None:
        rid = header["id"]
        with self._lock, self._transaction():
            seq = self._seq.get(rid)
            if seq is None:
                seq = self._interval_count(rid)
            wseq = self._next_window_seq(rid)
            sums = dict(self._sums.get(rid, {}))
            t1 = self._t1.get(rid, 0.0)
            rows = list(rows)
            for iv in rows:
                for ch, e in iv.energy_j.items():
                    sums[ch] = sums.get(ch, 0.0) + e
            if rows:
                t1 = rows[-1].t1_s
            head = self._upsert_run(header if final else _progress_view(header, sums, t1))
            rolled = self._roll_written(rid, seq, rows) if rows else self._rolled.get(rid)
            seq = self._insert_rows(rid, seq, rows)
            wins = [_window_row(rid, i, w) for i, w in enumerate(windows, start=wseq)]
            self._executemany(_INSERT_WINDOW, wins)
            self._executemany(
                "UPDATE windows SET emissions_g=?, market_emissions_g=?, channels=? WHERE run_id=? AND seq=?",
                [(w.get("emissions_g"), w.get("market_emissions_g"), json.dumps(w["channels"]), rid, i)
                 for i, w in repriced],
            )
        # counters move only once the transaction is committed, so a failed write is retried whole
        self._seq[rid], self._wseq[rid], self._sums[rid], self._t1[rid] = seq, wseq + len(wins), sums, t1
        self._written_heads[rid] = head
        if rolled is not None:
            self._rolled[rid] = rolled

    def _insert_rows(self, rid: str, seq: int, rows: Iterable[Interval]) -> int:
        """Append ``rows`` as packed chunks from timeline position ``seq``; returns the next position."""
        chunks = []
        for n, names, data in pack_chunks(rows):
            chunks.append((rid, seq, n, names, data))
            seq += n
        self._executemany("INSERT INTO timeline_chunks VALUES (?,?,?,?,?)", chunks)
        return seq

    def _next_window_seq(self, run_id: str) -> int:
        seq = self._wseq.get(run_id)
        if seq is None:
            seq = int(self._tuples("SELECT COALESCE(MAX(seq)+1, 0) FROM windows WHERE run_id=?", (run_id,))[0][0])
        return seq

    def import_run(self, run: Mapping[str, Any], rows: Iterable[Interval]) -> None:
        """Replace the run ``run["id"]`` (if stored) with ``run``, a record as :meth:`get_run`
        gives it, and its timeline ``rows``, in one transaction: a copy interrupted part-way
        leaves the previous state, and copying the same run again leaves one copy."""
        rid = run["id"]
        with self._lock, self._transaction():
            for table in _CHILD_TABLES:
                self._execute(f"DELETE FROM {table} WHERE run_id=?", (rid,))  # noqa: S608 - our tables
            self._execute("DELETE FROM runs WHERE id=?", (rid,))
            self._written_heads.pop(rid, None)  # gone: written whole below
            self._upsert_run(run)
            rows = list(rows)
            self._roll_written(rid, 0, rows)
            self._insert_rows(rid, 0, rows)
            self._executemany(_INSERT_WINDOW, [_window_row(rid, i, w) for i, w in enumerate(run["windows"])])
        for cache in (self._seq, self._wseq, self._sums, self._t1, self._rolled, self._written_heads):
            cache.pop(rid, None)

    # -- reading ------------------------------------------------------------------

    def list_runs(self, limit: int | None = None, *, project: str | None = None,
                  owner: str | None = None) -> list[RunHeader]:
        """Run headers (records without channels, windows and timeline), newest first;
        ``project`` / ``owner``: only the runs of that project / person."""
        where = [(col, value) for col, value in (("project", project), ("owner", owner)) if value is not None]
        sql = "SELECT * FROM runs"
        params: tuple[Any, ...] = tuple(value for _, value in where)
        if where:
            sql += " WHERE " + " AND ".join(f"{col}=?" for col, _ in where)
        sql += " ORDER BY start_utc DESC, id"
        if limit:
            sql += " LIMIT ?"
            params += (limit,)
        with self._lock:
            rows = self._dicts(sql, params)
        return [self._header(r) for r in rows]

    def list_job_runs(self, job_id: str) -> list[RunHeader]:
        """The headers of every run of the distributed job ``job_id`` (its ranks' partials and its view)."""
        with self._lock:
            rows = self._dicts("SELECT * FROM runs WHERE job_id=? ORDER BY start_utc, id", (job_id,))
        return [self._header(r) for r in rows]

    def resolve_id(self, ref: str) -> str:
        """A full run id from an id, a unique prefix, or ``last``."""
        with self._lock:
            if ref in ("last", "latest"):
                found = self._tuples("SELECT id FROM runs ORDER BY start_utc DESC LIMIT 1")
                if not found:
                    raise StoreError(f"no runs stored yet in {self.path}")
                return str(found[0][0])
            found = self._tuples(
                "SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 2",
                (ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
            )
        if not found:
            raise StoreError(f"no run with id '{ref}' (see 'wattprint runs')")
        if len(found) > 1:
            raise StoreError(f"run id '{ref}' is ambiguous; give more characters")
        return str(found[0][0])

    def get_run(self, ref: str, *, timeline: bool = True, max_rows: int | None = None,
                windows: bool = True) -> RunRecord:
        """The whole run (header, channels, windows, timeline): the record ``Run.to_dict()`` gave.

        For long runs, read less: ``timeline=False`` leaves the timeline out
        (``timeline_intervals`` still counts it); ``max_rows`` streams it merged
        to about that many rows (each within one UTC hour, energy summed; see
        :func:`~wattprint.tracking.timeline.downsample`); ``windows=False``
        leaves the windows list empty while ``window_stats`` still covers them all.
        """
        run_id = self.resolve_id(ref)
        with self._lock:
            head = self._dicts("SELECT * FROM runs WHERE id=?", (run_id,))[0]
            chans = self._dicts("SELECT * FROM channels WHERE run_id=? ORDER BY name", (run_id,))
            wins = self._dicts(
                "SELECT * FROM windows WHERE run_id=? ORDER BY seq" if windows else
                "SELECT name, offset_s, duration_s, energy_j, estimated FROM windows WHERE run_id=? ORDER BY seq",
                (run_id,),
            )
        header = self._header(head)
        records = [window_record(w, header["start_utc"]) for w in wins] if windows else []
        light: list[Any] = [stat_view(w) for w in wins] if not windows else []  # the fields window_stats reads
        stats = window_stats(records if windows else light, header["duration_s"])
        run: RunRecord = {
            **header,
            "channels": {c["name"]: channel_record(c) for c in chans},
            "windows": records,
            "window_stats": stats,
        }
        if not timeline:
            run["timeline_intervals"] = self.count_intervals(run_id)
        elif max_rows is None:
            run["timeline"] = timeline_records(self.iter_timeline(run_id))
            run["timeline_intervals"] = len(run["timeline"])
        else:
            rows, count = downsample(self.iter_timeline(run_id), max_rows, header["duration_s"])
            run["timeline"], run["timeline_intervals"] = timeline_records(rows), count
        return run

    def count_intervals(self, run_id: str) -> int:
        """How many timeline intervals are stored for the run ``run_id`` (a full id)."""
        with self._lock:
            return self._interval_count(run_id)

    def _interval_count(self, run_id: str) -> int:
        """Timeline intervals stored for a run, in either layout (also the next interval's seq)."""
        legacy = self._tuples("SELECT COALESCE(MAX(seq)+1, 0) FROM timeline WHERE run_id=?", (run_id,))
        chunks = self._tuples("SELECT COALESCE(MAX(seq+n), 0) FROM timeline_chunks WHERE run_id=?", (run_id,))
        return max(int(legacy[0][0]), int(chunks[0][0]))

    def iter_timeline(self, run_id: str, batch: int = 256, *, start: int = 0,
                      stop: int | None = None) -> Iterator[Interval]:
        """The run's timeline intervals in order: rows of the schema-1 table (runs written before
        schema 5), then the chunks, ``batch`` chunks per query (never all at once; each query
        starts after the last chunk read, so no cursor is held between them). ``start``/``stop``:
        only the intervals at those timeline positions (``[start, stop)``; only the chunks
        holding them are read)."""
        end = 2**62 if stop is None else stop
        with self._lock:
            legacy = self._tuples(  # bounded: no run has been written this way since schema 5
                "SELECT seq, t0_s, t1_s, start_utc, channel, energy_j FROM timeline WHERE run_id=? AND seq>=? "
                "AND seq<? ORDER BY seq",
                (run_id, start, end),
            )
        yield from legacy_timeline(legacy)
        after = -1
        while True:
            with self._lock:
                chunks = self._tuples(
                    "SELECT seq, channels, data FROM timeline_chunks WHERE run_id=? AND seq>? AND seq+n>? AND seq<? "
                    "ORDER BY seq LIMIT ?",
                    (run_id, after, start, end, batch),
                )
            if not chunks:
                return
            for first, names, data in chunks:
                rows = unpack_chunk(names, bytes(data))
                # a chunk across an end: cut it
                if first < start or (stop is not None and first + _chunk_len(data, names) > stop):
                    rows = (iv for i, iv in enumerate(rows, start=first) if start <= i < end)
                yield from rows
            after = chunks[-1][0]

    def _header(self, r: Row) -> RunHeader:
        status = r["status"]
        if status == "running" and r["host"] == hostname() and r["pid"] and not _pid_alive(r["pid"]):
            status = "killed"
        return header_record(r, status)

    # -- baselines ------------------------------------------------------------------

    def save_baseline(self, baseline: Any) -> None:
        """Record an idle baseline for its host (the same host and instant again replaces it)."""
        with self._lock, self._transaction():
            self._execute(
                "INSERT INTO baselines VALUES (?,?,?,?) ON CONFLICT(host, measured_utc) DO UPDATE SET "
                "duration_s=excluded.duration_s, power_w=excluded.power_w",
                (baseline.host, baseline.measured_utc, baseline.duration_s, json.dumps(baseline.power_w)),
            )

    def latest_baseline(self, host: str, max_age_s: float) -> Any:
        """The newest baseline of ``host`` younger than ``max_age_s``, or None."""
        import time

        found = self._baselines("WHERE host=? AND measured_utc>=? ORDER BY measured_utc DESC LIMIT 1",
                                (host, time.time() - max_age_s))
        return found[0] if found else None

    def list_baselines(self) -> list[Any]:
        """Every stored baseline, oldest first."""
        return self._baselines("ORDER BY measured_utc, host", ())

    def _baselines(self, tail: str, params: tuple[Any, ...]) -> list[Any]:
        from wattprint.tracking.baseline import Baseline
        from wattprint.units import utc

        with self._lock:
            rows = self._tuples(f"SELECT host, measured_utc, duration_s, power_w FROM baselines {tail}", params)  # noqa: S608
        return [Baseline(h, t, d, json.loads(p), source=f"stored, measured {utc(t)}") for h, t, d, p in rows]


def _chunk_len(data: bytes, names: str) -> int:
    """Intervals in a stored chunk (8-byte floats: t0, t1, wall0, then one per channel)."""
    return len(data) // (8 * (3 + len(json.loads(names))))


def _run_row(d: Mapping[str, Any]) -> tuple[Any, ...]:
    """The ``runs`` row of a run record, in :data:`_RUN_COLUMNS` order."""
    intensity = d.get("intensity") or {}
    return (
        d["id"], d["name"], d["status"], json.dumps(d.get("command")), json.dumps(d.get("tags") or {}),
        d["start_utc"], d.get("end_utc"), d["duration_s"], d.get("exit_code"), d.get("host"),
        d.get("pid", os.getpid()), d.get("cpu_model"), json.dumps(d.get("gpu_models") or []),
        d.get("wattprint_version"), d.get("interval_s"), intensity.get("location"), intensity.get("source"),
        json.dumps(intensity) if intensity else None, d["energy_j"], d.get("band"), d.get("emissions_g"),
        d.get("market_emissions_g"), json.dumps(d.get("sensors", [])), json.dumps(d.get("faults", [])),
        json.dumps(d["attribution"]) if d.get("attribution") else None,
        json.dumps(d["baseline"]) if d.get("baseline") else None,
        json.dumps(d.get("gpu_users") or {}), d.get("owner"), d.get("project"),
        json.dumps(d["progress"]) if d.get("progress") else None, *job_columns(d.get("job")),
        *(json.dumps(d[k]) if d.get(k) else None for k in ("budget", "prediction", "embodied", "platform")),
    )


def _channel_rows(d: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The ``channels`` rows of a run record: its description (:data:`_CHANNEL_DESCRIBED` columns),
    then its totals."""
    return [(d["id"], c["name"], c["component"], c["method"], c["band"], int(bool(c["in_total"])),
             c.get("detail", ""), c["energy_j"], c.get("emissions_g")) for c in d["channels"].values()]


def _progress_view(header: Mapping[str, Any], sums: dict[str, float], t1: float) -> dict[str, Any]:
    """A running run's header with totals summed from its timeline rows written so far.

    The run prices its intervals as they close (with the intensity known so far),
    so the header's emissions cover its closed intervals; each channel's are
    scaled to the rows written, so a run killed before its end reads back with
    the emissions of exactly the energy it shows.
    """
    d = dict(header)
    chans = {}
    for n, c in header["channels"].items():
        e = sums.get(n, 0.0)
        g = c.get("emissions_g")
        chans[n] = {**c, "energy_j": e, "emissions_g": g * e / c["energy_j"] if g and c["energy_j"] > 0 else g}
    d["channels"] = chans
    d["energy_j"] = sum(c["energy_j"] for c in chans.values() if c["in_total"])
    if header.get("emissions_g") is not None:
        d["emissions_g"] = sum(c["emissions_g"] or 0.0 for c in chans.values() if c["in_total"])
    market, total = header.get("market_emissions_g"), header.get("energy_j") or 0.0
    if market is not None and total > 0:
        d["market_emissions_g"] = market * d["energy_j"] / total
    d["duration_s"] = t1
    return d


def job_columns(job: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """The ``runs`` columns of a run's job record (schema 8): id, rank, world size, boot id, the record."""
    if not job:
        return (None, None, None, None, None)
    return (job.get("id"), job.get("rank"), job.get("world_size"), job.get("boot_id"), json.dumps(job))


def _window_row(run_id: str, seq: int, w: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        run_id, seq, w["name"], w.get("parent"), w["offset_s"], w["duration_s"], w["energy_j"],
        w.get("emissions_g"), json.dumps(w["channels"]), json.dumps(w.get("estimated") or {}),
        w["start_utc"], w["band"], w["market_emissions_g"],
        json.dumps(w["progress"]) if w.get("progress") else None,
    )
