"""A fleet writing to one store: runs/s and intervals/s with N writer processes, PostgreSQL vs SQLite.

Not a timed test: a script that prints figures (a Markdown table on stdout,
progress on stderr). Each of ``--writers`` processes (default 8, started
together) writes ``--runs`` runs through the store's public methods, as the
store sink does: a header at start, ``--flushes`` progress writes of
``--rows`` timeline intervals (``--channels`` channels each) and one window,
then the final write. The figures are the whole fleet's: runs finished per
second and timeline intervals stored per second (wall time from the common
start to the last writer's end), and the slowest single write (the longest
a store sink's writer thread waited). Every run is then read back and its
interval count and energy checked, so a figure never counts a lost write.
On PostgreSQL it also prints the WAL the server wrote per write and the dead
rows left in ``channels`` (what autovacuum must clean up).

PostgreSQL: a throwaway server from Debian's binaries (tests/pg_server.py;
fsync off, like the tests), or ``--pg URL`` for a real one. SQLite: one file
in WAL mode (the default store), on local disk.

    python3 benchmarks/fleet_store.py                  # the figures in RESULTS.md (~1 min on 2 cores)
    python3 benchmarks/fleet_store.py --runs 2         # a quick look
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from wattprint.store.open import open_store  # noqa: E402
from wattprint.tracking.measure import Interval  # noqa: E402

J_PER_ROW = 0.5  # each channel's joules per interval


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _channels(names: list[str], energy: float) -> dict[str, Any]:
    return {n: {"name": n, "component": n.split(":")[0], "method": "counter", "band": 0.05, "energy_j": energy,
                "in_total": True, "detail": "", "emissions_g": energy * 1e-4} for n in names}


def _header(rid: str, wid: int, names: list[str], status: str, energy: float, t: float) -> dict[str, Any]:
    return {"id": rid, "name": f"writer-{wid}", "status": status, "start_utc": 1.8e9, "duration_s": t,
            "energy_j": energy * len(names), "band": 0.05, "emissions_g": energy * len(names) * 1e-4,
            "market_emissions_g": None, "host": f"node-{wid}", "pid": 1, "interval_s": 1.0,
            "channels": _channels(names, energy), "owner": "bench", "project": "fleet", "tags": {"w": str(wid)}}


def _window(k: int, names: list[str], t: float) -> dict[str, Any]:
    return {"name": f"step-{k}", "parent": None, "offset_s": t, "duration_s": 1.0, "energy_j": J_PER_ROW,
            "emissions_g": 1e-4, "channels": _channels(names, J_PER_ROW / len(names)), "estimated": {},
            "start_utc": 1.8e9 + t, "band": 0.05, "market_emissions_g": None}


def writer(target: str, wid: int, args: argparse.Namespace, start_at: float, out: Any) -> None:
    names = [f"cpu:package-{c}" for c in range(args.channels)]
    store = open_store(target)
    time.sleep(max(0.0, start_at - time.time()))
    slowest, t = 0.0, 0.0
    for r in range(args.runs):
        rid = f"w{wid:02d}r{r:04d}"
        store.save_progress(_header(rid, wid, names, "running", 0.0, 0.0))
        for f in range(args.flushes):
            rows = []
            for _ in range(args.rows):
                rows.append(Interval(t, t + 1.0, 1.8e9 + t, dict.fromkeys(names, J_PER_ROW)))
                t += 1.0
            head = _header(rid, wid, names, "running", J_PER_ROW * args.rows * (f + 1), t)
            t0 = time.perf_counter()
            store.save_progress(head, rows, [_window(f, names, t)])
            slowest = max(slowest, time.perf_counter() - t0)
        total = J_PER_ROW * args.rows * args.flushes
        t0 = time.perf_counter()
        store.save_final(_header(rid, wid, names, "finished", total, t))
        slowest = max(slowest, time.perf_counter() - t0)
    store.close()
    out.put((wid, time.time(), slowest))


def _pg(target: str, sql: str) -> Any:
    import psycopg

    with psycopg.connect(target, autocommit=True, connect_timeout=10) as conn:
        return conn.execute(sql).fetchone()


def fleet(target: str, args: argparse.Namespace) -> dict[str, float]:
    pg = target.startswith("postgresql://")
    if pg:
        open_store(target).close()  # the schema's own WAL is not the writes'
        lsn0 = _pg(target, "SELECT pg_current_wal_lsn()")[0]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0  # every writer has connected and opened its store by then
    procs = [ctx.Process(target=writer, args=(target, w, args, start_at, out)) for w in range(args.writers)]
    for p in procs:
        p.start()
    ends = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        if p.exitcode != 0:
            raise SystemExit(f"a writer failed (exit {p.exitcode})")
    wall = max(e for _, e, _ in ends) - start_at
    runs = args.writers * args.runs
    intervals = runs * args.flushes * args.rows
    writes = runs * (args.flushes + 2)
    got = {"wall_s": wall, "runs_per_s": runs / wall, "intervals_per_s": intervals / wall,
           "flushes_per_s": writes / wall, "slowest_write_s": max(s for _, _, s in ends)}
    if pg:  # what each write costs the server: WAL (the whole cluster's: a throwaway server is only us)
        wal = _pg(target, f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{lsn0}')")[0]
        dead = _pg(target, "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname='channels'")[0]
        got["wal_b_per_write"], got["dead_channel_rows"] = float(wal) / writes, float(dead)
    check(target, args, runs, intervals)
    return got


def check(target: str, args: argparse.Namespace, runs: int, intervals: int) -> None:
    """Every run read back whole: a figure never counts a lost write."""
    store = open_store(target, write=False)
    heads = store.list_runs()
    assert len(heads) == runs, (len(heads), runs)
    total = sum(store.count_intervals(h["id"]) for h in heads)
    assert total == intervals, (total, intervals)
    want = J_PER_ROW * args.rows * args.flushes * args.channels
    assert all(abs(h["energy_j"] - want) < 1e-9 for h in heads)
    got = store.get_run(heads[0]["id"])
    assert len(got["windows"]) == args.flushes
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--runs", type=int, default=10, help="runs per writer")
    ap.add_argument("--flushes", type=int, default=30, help="progress writes per run")
    ap.add_argument("--rows", type=int, default=10, help="timeline intervals per write")
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--pg", help="a PostgreSQL URL to use (its database should be empty) instead of a throwaway server")
    args = ap.parse_args()
    results = {}
    server = None
    with tempfile.TemporaryDirectory(prefix="wattprint-fleet-", dir="/var/tmp") as tmp:
        try:
            url = args.pg
            if url is None:
                import pg_server

                base = Path(tempfile.mkdtemp(prefix="wattprint-fleet-pg-", dir="/var/tmp"))  # the server's own
                server = pg_server.start(base, os.path.join(pg_server.bin_dir(), "initdb"),
                                         os.path.join(pg_server.bin_dir(), "pg_ctl"))
                url = server.new_database()
            for kind, target in (("PostgreSQL", url), ("SQLite (WAL)", str(Path(tmp) / "fleet.db"))):
                log(f"{kind}: {args.writers} writers x {args.runs} runs ...")
                results[kind] = fleet(target, args)
                log(f"  {results[kind]}")
        finally:
            if server is not None:
                server.stop()
    print(f"{args.writers} writer processes, each {args.runs} runs of {args.flushes} writes x {args.rows} intervals "
          f"x {args.channels} channels (+1 window per write)\n")
    print("| store | runs/s | intervals/s | writes/s | slowest write | wall | WAL per write | dead channel rows |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, r in results.items():
        wal = f"{r['wal_b_per_write']:,.0f} B" if "wal_b_per_write" in r else ""
        dead = f"{r['dead_channel_rows']:,.0f}" if "dead_channel_rows" in r else ""
        print(f"| {kind} | {r['runs_per_s']:.1f} | {r['intervals_per_s']:,.0f} | {r['flushes_per_s']:,.0f} | "
              f"{r['slowest_write_s'] * 1000:.0f} ms | {r['wall_s']:.1f} s | {wal} | {dead} |")


if __name__ == "__main__":
    main()
