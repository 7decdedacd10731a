"""Dashboard page times: a 7-day run at 1 s, and a store of 10 000 runs.

Not a timed test: a script that prints figures (Markdown tables on stdout,
progress on stderr). What it does:

1. A run of ``--days`` days (default 7) at 1 s, four channels, driven through
   the real Run, sinks and SQLite store on a fake clock (``longrun.week``, the
   same run as the long-run figures; the store writes the timeline's rollup as
   it goes). Then ``wattprint dashboard`` on it as a subprocess, and over HTTP
   (urllib, wall time per request, from the server's start): the chart data
   cold ``--cold`` times (each a new server process, with the database's pages
   dropped from the OS cache first: ``posix_fadvise(DONTNEED)``), the chart
   of the same run stored without its rollup (an older store: built on first
   read, then kept), the run page's HTML, a zoom to one hour (only its stored
   intervals read), the HTML report link. With Playwright and Chromium present,
   the page as a user sees it: navigation until the chart is drawn, on a fresh
   server at once and 5 s after its start. And what the rollup costs the
   writer: a flush of 10 intervals with and without it.
2. A store of ``--runs`` runs (default 10 000; headers and channels written
   through ``SqliteStore.save_final``, no timelines), and the pages over it, the
   database filtering and paging: the runs list, a page deep in it, a filtered
   list, totals per week, and compare by name (20 repeats at 10 000 runs, with
   mean ± CI).

Each figure: the first request, then the median of ``--reps`` more.

    python3 benchmarks/fleet_dashboard.py              # the figures in RESULTS.md (~4 min on 2 cores)
    python3 benchmarks/fleet_dashboard.py --days 1 --runs 2000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from longrun import log, week  # noqa: E402

from synthetic_run import SyntheticRun  # noqa: E402
from test_dashboard_helpers import Server, fetch  # noqa: E402
from wattprint.intensity.base import Intensity  # noqa: E402
from wattprint.store.sqlite import SqliteStore  # noqa: E402

TARGET_S = 1.0  # the run page of a week at 1 s, loaded


def timed(url: str, reps: int) -> tuple[float, float]:
    """Seconds for the first request and the median of ``reps`` more."""
    times = []
    for _ in range(reps + 1):
        t0 = time.perf_counter()
        status, _, body = fetch(url)
        times.append(time.perf_counter() - t0)
        if status != 200:
            raise SystemExit(f"{url}: HTTP {status}: {body[:300]!r}")
    return times[0], statistics.median(times[1:]) if reps else times[0]


def browser_times(url: str, reps: int) -> tuple[float, float] | None:
    """Navigation until the chart is drawn (``data-state=ready``), first and median; None
    without Playwright or Chromium."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    import shutil

    chromium = shutil.which("chromium")
    if chromium is None:
        return None
    times = []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu",
                                                              "--disable-dev-shm-usage"])
        page = b.new_page()
        page.goto("about:blank")
        for _ in range(reps + 1):
            t0 = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("#chart[data-state=ready]", timeout=60_000)
            times.append(time.perf_counter() - t0)
        b.close()
    return times[0], statistics.median(times[1:])


def uncache(db: Path) -> None:
    """Drop the database's files from the OS page cache (as far as an unprivileged process can)."""
    for f in db.parent.glob(db.name + "*"):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def cold_chart(tmp: Path, db: Path, rid: str) -> float:
    """Seconds for the first chart request of a new server process on an uncached database."""
    uncache(db)
    s = Server(tmp, db)
    try:
        return timed(f"{s.base}/api/runs/{rid}/series?points=900", 0)[0]
    finally:
        s.stop()


def flush_cost(tmp: Path, reps: int = 500, rounds: int = 4) -> tuple[float, float]:
    """Milliseconds per ``save_progress`` of 10 intervals (4 channels), with and without the
    rollup: the median of ``rounds`` rounds of ``reps`` flushes each, the two alternating."""
    from wattprint.store.sql import SqlStore
    from wattprint.tracking.measure import Interval

    one = SyntheticRun(wall0=time.time())
    one.tick(1)
    header = one.run.to_dict(with_timeline=False, with_windows=False)
    real = SqlStore._roll_written
    times: dict[bool, list[float]] = {True: [], False: []}
    stores = {w: SqliteStore.open(tmp / f"flush-{w}.db") for w in (True, False)}
    t = 0.0
    for _ in range(rounds):
        for with_rollup in (True, False):
            if not with_rollup:
                SqlStore._roll_written = lambda self, rid, seq, rows: {}  # type: ignore[method-assign,assignment]
            try:
                t0 = time.perf_counter()
                for _ in range(reps):
                    rows = [Interval(t + i, t + i + 1, 1.8e9 + t + i, {f"c{k}": 1.0 for k in range(4)})
                            for i in range(10)]
                    t += 10
                    stores[with_rollup].save_progress(header, rows)
                times[with_rollup].append((time.perf_counter() - t0) / reps * 1000)
            finally:
                SqlStore._roll_written = real  # type: ignore[method-assign]
    for st in stores.values():
        st.close()
    return statistics.median(times[True]), statistics.median(times[False])


def long_run_pages(tmp: Path, days: float, reps: int, cold: int) -> dict[str, Any]:
    db = tmp / "week.db"
    log(f"{days:g}-day run at 1 s ...")
    w = week(db, days)
    rid = w["run_id"]
    out: dict[str, Any] = {"intervals": w["intervals"], "db_mb": w["db_mb"]}
    store = SqliteStore.open(db, write=False)
    t0 = time.perf_counter()
    sum(1 for _ in store.iter_timeline(rid))  # what a first chart cost before the rollup: one pass over the rows
    out["stream_s"] = time.perf_counter() - t0
    out["rollup_rows"] = {step: len(store.timeline_rollup(rid, step)) for step in (60, 3600)}
    store.close()
    log("cold first charts ...")
    out["cold"] = [cold_chart(tmp, db, rid) for _ in range(cold)]
    old = tmp / "old.db"  # the same run in a store written before the rollup
    shutil.copy(db, old)
    with sqlite3.connect(old) as conn:
        conn.execute("DELETE FROM timeline_rollup")
    out["old_first"] = cold_chart(tmp, old, rid)  # builds the rollup and keeps it
    out["old_after"] = cold_chart(tmp, old, rid)  # a new server: reads what the first one kept
    out["flush_ms"] = flush_cost(tmp)
    for key, delay in (("browser", 0.0), ("browser_warmed", 5.0)):
        # a fresh server each time: at once (the chart's first pass over the rows, which the
        # start-up warm-up has just begun, is waited for), then after the warm-up has had time
        with_browser = Server(tmp, db)
        try:
            log(f"browser, {delay:g} s after start ...")
            time.sleep(delay)
            out[key] = browser_times(f"{with_browser.base}/runs/{rid}", reps)
        finally:
            with_browser.stop()
    s = Server(tmp, db)
    try:
        base = s.base
        log("HTTP ...")
        # at once: the first chart request waits for the start-up pass over the rows (a cold read)
        out["series"] = timed(f"{base}/api/runs/{rid}/series?points=900", reps)
        out["page"] = timed(f"{base}/runs/{rid}", reps)
        hour = (w["intervals"] / 2, w["intervals"] / 2 + 3600)
        zoom = f"{base}/api/runs/{rid}/series?points=900&t0={hour[0]}&t1={hour[1]}"
        out["zoom"] = timed(zoom, reps)
        out["zoom_exact"] = json.loads(fetch(zoom)[2])["exact"]
        out["report"] = timed(f"{base}/runs/{rid}/report.html", reps)
    finally:
        s.stop()
    return out


def many_runs(db: Path, n: int) -> float:
    """``n`` stored runs (500 names, 16 hosts, one every 10 minutes back from now); seconds taken."""
    one = SyntheticRun(wall0=time.time(), watts=(100.0, 250.0, 30.0, 5.0))
    one.tick(60)
    one.stop(Intensity(56.0, "test", "FR"))
    template = one.run.to_dict(with_timeline=False, with_windows=False)
    store = SqliteStore.open(db)
    t0 = time.perf_counter()
    now = time.time()
    for i in range(n):
        header = {**template, "id": uuid.uuid4().hex[:12], "name": f"job-{i % 500}", "host": f"node-{i % 16}",
                  "start_utc": now - i * 600.0, "tags": {"team": ("vision", "nlp", "rl")[i % 3]},
                  "energy_j": template["energy_j"] * (1 + (i % 7) / 10)}
        store.save_final(header)
    store.close()
    return time.perf_counter() - t0


def store_pages(tmp: Path, n: int, reps: int) -> dict[str, Any]:
    db = tmp / "many.db"
    log(f"{n} runs ...")
    out: dict[str, Any] = {"fill_s": many_runs(db, n)}
    s = Server(tmp, db)
    try:
        base = s.base
        out["list"] = timed(f"{base}/", reps)
        out["deep"] = timed(f"{base}/?page=50", reps)
        out["filtered"] = timed(f"{base}/?name=job-7&host=node-&tag=team%3Dnlp", reps)
        out["totals"] = timed(f"{base}/totals?period=week", reps)
        out["compare"] = timed(f"{base}/compare?name=job-3", reps)  # 20 repeats of job-3 at 10 000
    finally:
        s.stop()
    return out


def row(label: str, t: tuple[float, float] | None, target: float | None = None) -> str:
    if t is None:
        return f"| {label} | not measured (no Playwright/Chromium) | | |"
    met = "" if target is None else ("yes" if t[1] <= target and t[0] <= target else "**no**")
    return f"| {label} | {t[0] * 1000:.0f} ms | {t[1] * 1000:.0f} ms | {met} |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=float, default=7.0, help="length of the synthetic run at 1 s")
    ap.add_argument("--runs", type=int, default=10_000, help="runs in the many-runs store")
    ap.add_argument("--reps", type=int, default=5, help="requests after the first, for the median")
    ap.add_argument("--cold", type=int, default=3, help="new server processes timed for the first chart")
    ap.add_argument("--skip-runs", action="store_true", help="only the long run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        week_fig = long_run_pages(tmp, args.days, args.reps, args.cold)
        many = None if args.skip_runs else store_pages(tmp, args.runs, args.reps)
    print(f"\n## Dashboard: a {args.days:g}-day run at 1 s ({week_fig['intervals']:,} stored intervals)\n")
    print("| request | first | median after | ≤ 1 s |\n|---|---|---|---|")
    print(row("run page in Chromium until the chart is drawn, right at server start", week_fig["browser"],
              TARGET_S))
    print(row("the same, 5 s after start (the newest runs' charts prepared)", week_fig["browser_warmed"], TARGET_S))
    print(row("run page HTML", week_fig["page"], TARGET_S))
    print(row("chart data, whole run (900 steps), right at server start", week_fig["series"], TARGET_S))
    cold = week_fig["cold"]
    print(f"| chart data, whole run, first request of a new server on an uncached database "
          f"({len(cold)} times) | {', '.join(f'{c * 1000:.0f}' for c in cold)} ms | | "
          f"{'yes' if max(cold) <= TARGET_S else '**no**'} |")
    print(f"| the same run stored without its rollup: first chart (builds and keeps it), then a new server | "
          f"{week_fig['old_first'] * 1000:.0f} ms | {week_fig['old_after'] * 1000:.0f} ms | |")
    print(f"| (one plain pass of `iter_timeline` over the stored rows, in process: "
          f"{week_fig['stream_s'] * 1000:.0f} ms; rollup rows: {week_fig['rollup_rows']}) | | | |")
    with_r, without = week_fig["flush_ms"]
    print(f"| a flush of 10 intervals (`save_progress`), with the rollup / without | {with_r:.2f} ms | "
          f"{without:.2f} ms | |")
    print(f"| (database size: {week_fig['db_mb']:.1f} MB) | | | |")
    how = "its stored intervals" if week_fig["zoom_exact"] else "its minute rows"
    print(row(f"chart data, zoom to one hour ({how})", week_fig["zoom"], TARGET_S))
    print(row("HTML report link", week_fig["report"]))
    if many is None:
        return 0
    print(f"\n## Dashboard: a store of {args.runs:,} runs (written in {many['fill_s']:.0f} s)\n")
    print("| request | first | median after | ≤ 1 s |\n|---|---|---|---|")
    print(row("runs list (first page of 100)", many["list"], TARGET_S))
    print(row("runs list, page 50", many["deep"], TARGET_S))
    print(row("runs list, filtered by name, host and tag", many["filtered"], TARGET_S))
    print(row("totals per week", many["totals"], TARGET_S))
    print(row(f"compare by name ({args.runs // 500} repeats, mean ± CI)", many["compare"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
