"""Runs on disk: SQLite (stdlib), WAL mode, versioned schema with migrations.

The tables and their migrations are in :mod:`wattprint.store.schema`. A running
run is written at start and then every flush (10 s by default), so a killed
process loses at most one flush period; a run whose process is gone while it
still says "running" reads back as "killed".

Reading gives the run record of :mod:`wattprint.tracking.record`, the very
shape :meth:`wattprint.tracking.run.Run.to_dict` produces, so reports and
exports never care whether a run is live or stored.

Files are private: a database this module creates is 0600 (SQLite gives its
``-wal`` and ``-shm`` files the same mode) in a 0700 directory, whatever the
umask; existing files keep their mode. Migrations run in one transaction under
the write lock, so any number of processes may open a new database at once and
an interrupted upgrade leaves the previous version intact. A database on
read-only media (or a file this user cannot write) opens read-only for the
commands that only read.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from wattprint.errors import StoreError
from wattprint.host import hostname
from wattprint.store.files import (  # noqa: F401 - default_path and check_not_database are used from here
    check_not_database,
    connect_read_only,
    connect_writable,
    default_path,
    file_identity,
    identity_problem,
    open_hint,
    read_only_place,
)
from wattprint.store.rows import (
    channel_record,
    header_record,
    interval_count,
    pack_chunks,
    read_timeline,
    stat_view,
    timeline_records,
    window_record,
)
from wattprint.store.schema import SCHEMA_VERSION, migrate  # noqa: F401 - used from here too
from wattprint.tracking.measure import Interval, window_stats
from wattprint.tracking.record import RunHeader, RunRecord
from wattprint.tracking.timeline import downsample


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class SqliteStore:
    """The default store. Thread-safe (one connection under a lock)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, readonly: bool = False) -> None:
        self._conn = conn
        self.path = path
        self.readonly = readonly
        self._lock = threading.Lock()
        # per run written by this store: next timeline and window seq, channel sums, last t1
        self._seq: dict[str, int] = {}
        self._identity = None if readonly else file_identity(path)  # (device, inode) of the file opened
        self._wseq: dict[str, int] = {}
        self._sums: dict[str, dict[str, float]] = {}
        self._t1: dict[str, float] = {}

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, write: bool = True) -> SqliteStore:
        """Open (creating and migrating) the database at ``path`` or the default path.

        ``write=False`` (the read-only commands): where the file or its directory
        cannot be written, open it read-only instead of failing.
        """
        p = Path(path).expanduser() if path is not None else default_path()
        try:
            if not write and read_only_place(p):
                return cls(connect_read_only(p, SCHEMA_VERSION), p, readonly=True)
            return cls(connect_writable(p, migrate), p)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot use database {p}: {exc} ({open_hint(exc)})") from exc

    def file_problem(self) -> str | None:
        """Why the file at :attr:`path` is no longer the database this store opened, or None
        (a database deleted or replaced mid-run would swallow every later write)."""
        return None if self._identity is None else identity_problem(self.path, self._identity)

    def reopen(self) -> None:
        """Open :attr:`path` again (creating it if it is gone); the caller rewrites what it needs."""
        fresh = SqliteStore.open(self.path)
        with self._lock:
            old, self._conn = self._conn, fresh._conn
            self._identity = fresh._identity
            self._seq, self._wseq, self._sums, self._t1 = {}, {}, {}, {}  # nothing of ours is in the new file
        try:
            old.close()
        except sqlite3.Error:  # the old file is gone; nothing of ours to save there
            pass

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- writing ------------------------------------------------------------------

    def _upsert_run(self, d: Mapping[str, Any]) -> None:
        intensity = d.get("intensity") or {}
        self._conn.execute(
            """INSERT INTO runs (id, name, status, command, tags, start_utc, end_utc, duration_s,
                exit_code, host, pid, cpu_model, gpu_models, wattprint_version, interval_s,
                location, intensity_source, intensity, energy_j, band, emissions_g,
                market_emissions_g, sensors, faults, attribution, baseline, gpu_users, budget, prediction,
                embodied)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT(id) DO UPDATE SET status=excluded.status, end_utc=excluded.end_utc,
                duration_s=excluded.duration_s, exit_code=excluded.exit_code,
                location=excluded.location, intensity_source=excluded.intensity_source,
                intensity=excluded.intensity, energy_j=excluded.energy_j, band=excluded.band,
                emissions_g=excluded.emissions_g, market_emissions_g=excluded.market_emissions_g,
                sensors=excluded.sensors, faults=excluded.faults,
                attribution=excluded.attribution, baseline=excluded.baseline,
                gpu_users=excluded.gpu_users, budget=excluded.budget, prediction=excluded.prediction,
                embodied=excluded.embodied""",
            (
                d["id"],
                d["name"],
                d["status"],
                json.dumps(d.get("command")),
                json.dumps(d.get("tags") or {}),
                d["start_utc"],
                d.get("end_utc"),
                d["duration_s"],
                d.get("exit_code"),
                d.get("host"),
                d.get("pid", os.getpid()),
                d.get("cpu_model"),
                json.dumps(d.get("gpu_models") or []),
                d.get("wattprint_version"),
                d.get("interval_s"),
                intensity.get("location"),
                intensity.get("source"),
                json.dumps(intensity) if intensity else None,
                d["energy_j"],
                d.get("band"),
                d.get("emissions_g"),
                d.get("market_emissions_g"),
                json.dumps(d.get("sensors", [])),
                json.dumps(d.get("faults", [])),
                json.dumps(d["attribution"]) if d.get("attribution") else None,
                json.dumps(d["baseline"]) if d.get("baseline") else None,
                json.dumps(d.get("gpu_users") or {}),
                json.dumps(d["budget"]) if d.get("budget") else None,
                json.dumps(d["prediction"]) if d.get("prediction") else None,
                json.dumps(d["embodied"]) if d.get("embodied") else None,
            ),
        )
        self._conn.execute("DELETE FROM channels WHERE run_id=?", (d["id"],))
        self._conn.executemany(
            "INSERT INTO channels VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (
                    d["id"],
                    c["name"],
                    c["component"],
                    c["method"],
                    c["band"],
                    int(bool(c["in_total"])),
                    c.get("detail", ""),
                    c["energy_j"],
                    c.get("emissions_g"),
                )
                for c in d["channels"].values()
            ],
        )

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
        with self._lock, self._conn:
            seq = self._seq.get(rid)
            if seq is None:
                seq = interval_count(self._conn, rid)
            wseq = self._next_seq("windows", rid, self._wseq)
            sums = dict(self._sums.get(rid, {}))
            t1 = self._t1.get(rid, 0.0)
            rows = list(rows)
            for iv in rows:
                for ch, e in iv.energy_j.items():
                    sums[ch] = sums.get(ch, 0.0) + e
            if rows:
                t1 = rows[-1].t1_s
            chunks = []
            for n, names, data in pack_chunks(rows):
                chunks.append((rid, seq, n, names, data))
                seq += n
            wins = [_window_row(rid, i, w) for i, w in enumerate(windows, start=wseq)]
            self._upsert_run(header if final else _progress_view(header, sums, t1))
            self._conn.executemany("INSERT INTO timeline_chunks VALUES (?,?,?,?,?)", chunks)
            self._conn.executemany(
                "INSERT INTO windows (run_id, seq, name, parent, offset_s, duration_s, energy_j, "
                "emissions_g, channels, estimated, start_utc, band, market_emissions_g) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                wins,
            )
            self._conn.executemany(
                "UPDATE windows SET emissions_g=?, market_emissions_g=?, channels=? WHERE run_id=? AND seq=?",
                [(w.get("emissions_g"), w.get("market_emissions_g"), json.dumps(w["channels"]), rid, i)
                 for i, w in repriced],
            )
        # counters move only once the transaction is committed, so a failed write is retried whole
        self._seq[rid], self._wseq[rid], self._sums[rid], self._t1[rid] = seq, wseq + len(wins), sums, t1

    def _next_seq(self, table: str, run_id: str, cache: dict[str, int]) -> int:
        seq = cache.get(run_id)
        if seq is None:
            cur = self._conn.execute(f"SELECT COALESCE(MAX(seq)+1, 0) FROM {table} WHERE run_id=?", (run_id,))  # noqa: S608 - table is ours
            seq = int(cur.fetchone()[0])
        return seq

    # -- reading ------------------------------------------------------------------

    def list_runs(self, limit: int | None = None) -> list[RunHeader]:
        """Run headers (records without channels, windows and timeline), newest first."""
        sql = "SELECT * FROM runs ORDER BY start_utc DESC"
        params: tuple[Any, ...] = ()
        if limit:
            sql += " LIMIT ?"
            params = (limit,)
        with self._lock:
            self._conn.row_factory = sqlite3.Row
            rows = self._conn.execute(sql, params).fetchall()
            self._conn.row_factory = None
        return [self._header(r) for r in rows]

    def resolve_id(self, ref: str) -> str:
        """A full run id from an id, a unique prefix, or ``last``."""
        with self._lock:
            if ref in ("last", "latest"):
                row = self._conn.execute(
                    "SELECT id FROM runs ORDER BY start_utc DESC LIMIT 1"
                ).fetchone()
                if row is None:
                    raise StoreError(f"no runs stored yet in {self.path}")
                return str(row[0])
            rows = self._conn.execute(
                "SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 2",
                (ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
            ).fetchall()
        if not rows:
            raise StoreError(f"no run with id '{ref}' (see 'wattprint runs')")
        if len(rows) > 1:
            raise StoreError(f"run id '{ref}' is ambiguous; give more characters")
        return str(rows[0][0])

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
            self._conn.row_factory = sqlite3.Row
            try:
                head = self._conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
                chans = self._conn.execute(
                    "SELECT * FROM channels WHERE run_id=? ORDER BY name", (run_id,)
                ).fetchall()
                wins = self._conn.execute(
                    "SELECT * FROM windows WHERE run_id=? ORDER BY seq" if windows else
                    "SELECT name, offset_s, duration_s, energy_j, estimated FROM windows WHERE run_id=?",
                    (run_id,),
                ).fetchall()
            finally:
                self._conn.row_factory = None
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
            return interval_count(self._conn, run_id)

    def iter_timeline(self, run_id: str, batch: int = 256) -> Iterator[Interval]:
        """The run's timeline intervals in order, read a few chunks at a time (never all at once)."""
        return read_timeline(self._conn, self._lock, run_id, batch)

    def _header(self, r: sqlite3.Row) -> RunHeader:
        status = r["status"]
        if status == "running" and r["host"] == hostname() and r["pid"] and not _pid_alive(
            r["pid"]
        ):
            status = "killed"
        return header_record(r, status)

    # -- baselines ------------------------------------------------------------------

    def save_baseline(self, baseline: Any) -> None:
        """Record an idle baseline for its host."""
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO baselines VALUES (?,?,?,?)",
                (baseline.host, baseline.measured_utc, baseline.duration_s, json.dumps(baseline.power_w)),
            )

    def latest_baseline(self, host: str, max_age_s: float) -> Any:
        """The newest baseline of ``host`` younger than ``max_age_s``, or None."""
        import time

        from wattprint.tracking.baseline import Baseline

        with self._lock:
            row = self._conn.execute(
                "SELECT measured_utc, duration_s, power_w FROM baselines WHERE host=? AND measured_utc>=? "
                "ORDER BY measured_utc DESC LIMIT 1",
                (host, time.time() - max_age_s),
            ).fetchone()
        if row is None:
            return None
        from wattprint.units import utc

        return Baseline(host, row[0], row[1], json.loads(row[2]), source=f"stored, measured {utc(row[0])}")


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


def _window_row(run_id: str, seq: int, w: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        run_id,
        seq,
        w["name"],
        w.get("parent"),
        w["offset_s"],
        w["duration_s"],
        w["energy_j"],
        w.get("emissions_g"),
        json.dumps(w["channels"]),
        json.dumps(w.get("estimated") or {}),
        w["start_utc"],
        w["band"],
        w["market_emissions_g"],
    )
