"""The database schema: every migration, in order, and the runner that applies them.

Every migration is written in SQL that SQLite and PostgreSQL both run, with
SQLite's type names (TEXT, REAL, INTEGER, BLOB); the PostgreSQL store translates
those names (:func:`wattprint.store.postgres.pg_dialect`), so both stores have
the same schema version and the same migrations.

Tables: ``runs`` (one row per run, with its provenance), ``channels``
(per-channel totals), ``windows``, ``timeline_chunks`` (the timeline, packed;
``timeline`` holds runs stored before version 5), ``timeline_rollup`` (the timeline summed per
minute and hour, for charts) and ``baselines``.
"""

from __future__ import annotations

import sqlite3

from wattprint.store.files import apply_migrations

# Each entry migrates the schema from version i to i+1. Never edit a released
# entry: append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        command TEXT,
        tags TEXT NOT NULL DEFAULT '{}',
        start_utc REAL NOT NULL,
        end_utc REAL,
        duration_s REAL NOT NULL DEFAULT 0,
        exit_code INTEGER,
        host TEXT,
        pid INTEGER,
        cpu_model TEXT,
        gpu_models TEXT NOT NULL DEFAULT '[]',
        wattprint_version TEXT,
        interval_s REAL,
        location TEXT,
        intensity_source TEXT,
        intensity TEXT,
        energy_j REAL NOT NULL DEFAULT 0,
        band REAL,
        emissions_g REAL,
        market_emissions_g REAL,
        sensors TEXT NOT NULL DEFAULT '[]',
        faults TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX runs_start ON runs(start_utc);
    CREATE TABLE channels (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        component TEXT NOT NULL,
        method TEXT NOT NULL,
        band REAL NOT NULL,
        in_total INTEGER NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        energy_j REAL NOT NULL,
        emissions_g REAL,
        PRIMARY KEY (run_id, name)
    );
    CREATE TABLE windows (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        name TEXT NOT NULL,
        parent TEXT,
        offset_s REAL NOT NULL,
        duration_s REAL NOT NULL,
        energy_j REAL NOT NULL,
        emissions_g REAL,
        channels TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE timeline (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        t0_s REAL NOT NULL,
        t1_s REAL NOT NULL,
        start_utc REAL NOT NULL,
        channel TEXT NOT NULL,
        energy_j REAL NOT NULL,
        PRIMARY KEY (run_id, seq, channel)
    );
    """,
    # 2: attribution and idle baseline per run; stored per-host baselines; window flags
    """
    ALTER TABLE runs ADD COLUMN attribution TEXT;
    ALTER TABLE runs ADD COLUMN baseline TEXT;
    ALTER TABLE windows ADD COLUMN estimated TEXT NOT NULL DEFAULT '{}';
    CREATE TABLE baselines (
        host TEXT NOT NULL,
        measured_utc REAL NOT NULL,
        duration_s REAL NOT NULL,
        power_w TEXT NOT NULL,
        PRIMARY KEY (host, measured_utc)
    );
    """,
    # 3: which processes used each GPU during the run
    """
    ALTER TABLE runs ADD COLUMN gpu_users TEXT NOT NULL DEFAULT '{}';
    """,
    # 4: windows keep their own start instant, band and market-based emissions (the round
    # trip lost them); NULL in older rows, read back as derived from what was kept
    """
    ALTER TABLE windows ADD COLUMN start_utc REAL;
    ALTER TABLE windows ADD COLUMN band REAL;
    ALTER TABLE windows ADD COLUMN market_emissions_g REAL;
    """,
    # 5: the timeline in chunks, one row per written batch (rows.py packs and unpacks them):
    # one SQLite row per channel per interval made a week at 1 s take ~300 MB. The old
    # ``timeline`` table stays and is still read, for runs written before.
    """
    CREATE TABLE timeline_chunks (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        n INTEGER NOT NULL,
        channels TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    """,
    # 6: who ran it and for which project, so a team sharing one store can filter (NULL in older rows)
    """
    ALTER TABLE runs ADD COLUMN owner TEXT;
    ALTER TABLE runs ADD COLUMN project TEXT;
    CREATE INDEX runs_project ON runs(project, start_utc);
    CREATE INDEX runs_owner ON runs(owner, start_utc);
    """,
    # 7: units of work counted during a run and each window (``run.step()``): JSON
    # {"steps", "samples", "tokens"}, NULL where nothing was counted (and in older rows)
    """
    ALTER TABLE runs ADD COLUMN progress TEXT;
    ALTER TABLE windows ADD COLUMN progress TEXT;
    """,
    # 8: ranks of distributed jobs (tracking/job.py): which job, rank and host (boot id) a run
    # is, and the job record itself; the merged job view is a run with job_rank NULL
    """
    ALTER TABLE runs ADD COLUMN job_id TEXT;
    ALTER TABLE runs ADD COLUMN job_rank INTEGER;
    ALTER TABLE runs ADD COLUMN job_world_size INTEGER;
    ALTER TABLE runs ADD COLUMN job_node TEXT;
    ALTER TABLE runs ADD COLUMN job TEXT;
    CREATE INDEX runs_job ON runs(job_id);
    """,
    # 9: a run's budget and what happened to it, run.progress()'s prediction against the actual, its
    # embodied emissions (JSON, NULL for runs without them: BudgetRecord, PredictionRecord, EmbodiedRecord)
    """
    ALTER TABLE runs ADD COLUMN budget TEXT;
    ALTER TABLE runs ADD COLUMN prediction TEXT;
    ALTER TABLE runs ADD COLUMN embodied TEXT;
    """,
    # 10: the timeline rolled up per UTC minute and hour (store/rollup.py): each row sums the
    # consecutive stored intervals [seq, seq+n), so a chart of a week reads ~10,000 rows, not 604,800
    """
    CREATE TABLE timeline_rollup (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        n INTEGER NOT NULL,
        t0_s REAL NOT NULL,
        t1_s REAL NOT NULL,
        wall0 REAL NOT NULL,
        energy TEXT NOT NULL,
        PRIMARY KEY (run_id, step, seq)
    );
    CREATE INDEX timeline_rollup_time ON timeline_rollup(run_id, step, t0_s);
    """,
    # 11: the whole-machine total over the run: metered and fallback seconds, fallback spans, the band its
    # meter's refresh adds, short or not (JSON, NULL for runs without a whole-machine meter: PlatformRecord)
    """
    ALTER TABLE runs ADD COLUMN platform TEXT;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION` (see :func:`~wattprint.store.files.apply_migrations`);
    returns the version found before."""
    return apply_migrations(conn, MIGRATIONS)
