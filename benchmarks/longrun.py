"""Scale in time: a synthetic week at 1 s and a run with 100 k windows, through the real code.

Not a timed test: a script that prints figures (Markdown tables on stdout,
progress on stderr). What it does:

1. A run of ``--days`` days (default 7) at 1 s, four channels, driven through
   the real Run, sampler, sinks and SQLite store on a fake clock and a fake
   energy counter (tests/synthetic_run.py): the tracker's memory growth (RSS
   and Python allocations), the timeline rows held, the database size.
2. The CLI on that database, each as a subprocess (wall time and peak RSS from
   ``os.wait4``): ``show``, ``report --format html``, ``export --format csv``.
3. A run with ``--windows`` windows (default 100 000): the cost of an idle
   flush (no new rows or windows) as the number of windows grows, and the
   memory the windows hold.
4. The sampler's own CPU per tracked second, whole process, with a store, on a
   fake RAPL tree, at 1 s and 0.1 s (main thread sleeping), against a bare
   Python thread that only wakes at the same rate.
5. ``--per-thread``: the same tracker with a bare thread waking the sampler's way
   (a lock acquired with a timeout) in the same process, CPU per thread from each
   thread's own clock: the bare thread is measured under the same host noise, so
   the sampler's cost above a mere wake-up can be read off each round.
6. ``--floor``: what any sampler of these counters pays on this host, wattprint or not:
   a bare thread waking the sampler's way, alone, then also reading each counter file
   once per wake-up.

    python3 benchmarks/longrun.py              # the figures in RESULTS.md (~3 min on 2 cores)
    python3 benchmarks/longrun.py --days 1     # a quick look
    python3 benchmarks/longrun.py --per-thread --sampler-reps 3
    python3 benchmarks/longrun.py --only-sampler --flush-every 30   # the store flushed less often
    python3 benchmarks/longrun.py --floor      # a bare waking thread, alone and reading the counters
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from synthetic_run import SyntheticRun  # noqa: E402
from wattprint.intensity.base import Intensity  # noqa: E402
from wattprint.settings_keys import KEYS  # noqa: E402
from wattprint.sinks.store import StoreSink, _header  # noqa: E402

WALL0 = 1_800_000_000.0
FLUSH_S = float(next(k.default for k in KEYS if k.name == "flush_every_s"))  # the shipped flush period
TARGETS = {"memory": 20.0, "db": 60.0, "show": 0.5, "html": 2.0, "csv": 5.0, "rss": 150.0}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def week(db: Path, days: float) -> dict[str, float]:
    """The long run at 1 s into ``db``; memory measured at every simulated day."""
    ticks = int(days * 86400)
    sink = StoreSink(db, wait_s=600)
    s = SyntheticRun(wall0=WALL0, sinks=[sink])
    gc.collect()
    tracemalloc.start()
    s.tick(3600)  # the first hour: the writer, the caches and the first merged rows exist
    gc.collect()
    rss0, py0 = rss_mb(), tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    done, peak_rows = 3600, 0
    while done < ticks:
        n = min(86400, ticks - done)
        s.tick(n)
        done += n
        peak_rows = max(peak_rows, len(s.run.timeline))
        log(f"  day {done / 86400:.1f}: {len(s.run.timeline)} rows held, RSS {rss_mb():.1f} MB")
    gc.collect()
    rss1, py1 = rss_mb(), tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    drive_s = time.perf_counter() - t0
    s.stop(Intensity(56.0, "test", "FR"))
    size = sum(os.path.getsize(p) for p in db.parent.glob(db.name + "*"))
    return {"intervals": s.run.timeline.appended, "rows_held": peak_rows, "rss_growth_mb": rss1 - rss0,
            "py_growth_mb": (py1 - py0) / 2**20, "drive_s": drive_s, "db_mb": size / 2**20, "run_id": s.run.id}


def cli(db: Path, *args: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one ``wattprint`` command as a child process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "wattprint.cli.main", *args, "--db", str(db)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"wattprint {' '.join(args)} failed: {p.stderr.read().decode()}")  # type: ignore[union-attr]
    return wall, usage.ru_maxrss / 1024


def windows_run(db: Path, n_windows: int) -> list[tuple[int, float, float]]:
    """(windows held, ms per idle flush, MB the windows hold) as a run's windows grow."""
    sink = StoreSink(db, wait_s=600)
    s = SyntheticRun(wall0=WALL0, sinks=[sink])
    out: list[tuple[int, float, float]] = []
    steps = sorted({0, n_windows // 100, n_windows // 10, n_windows})
    made = 0
    tracemalloc.start()
    for target in steps:
        while made < target:
            with s.run.window("step" if made % 3 else "eval"):
                s.clock.advance(0.001)
            made += 1
            if made % 1000 == 0:
                s.tick()
        s.tick(20)  # delivered and flushed
        while sink._windows_written < made or sink.store is None:  # every window written
            time.sleep(0.05)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
        reps = 50
        for _ in range(10):  # the first commits also checkpoint the windows just written
            sink.store.save_progress(_header(s.run), [], [])
        t0 = time.thread_time()
        for _ in range(reps):  # what an idle flush costs: the header, one transaction
            sink.store.save_progress(_header(s.run), [], [])
        out.append((made, (time.thread_time() - t0) / reps * 1000, held))
        tracemalloc.start()
        log(f"  {made} windows: idle flush {out[-1][1]:.2f} ms CPU")
    tracemalloc.stop()
    s.stop(Intensity(56.0, "test", "FR"))
    return out


SAMPLER = r"""
import json, sys, threading, time
which, iv, root, db = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
secs, flush = float(sys.argv[5]), float(sys.argv[6])
if which == "bare thread":
    ev = threading.Event()
    def loop():
        nxt = time.monotonic() + iv
        while not ev.wait(max(0.0, nxt - time.monotonic())):
            nxt += iv
    th = threading.Thread(target=loop); th.start()
    p0, m0 = time.process_time(), time.thread_time(); time.sleep(secs)
    p1, m1 = time.process_time(), time.thread_time(); ev.set(); th.join()
else:
    from wattprint import Tracker
    t = Tracker("bench", rapl_root=root, store=db, gpus="none", country="FR", interval=iv, flush_every_s=flush)
    t.start(); time.sleep(1.0)  # the writer and the first flush are up
    p0, m0 = time.process_time(), time.thread_time(); time.sleep(secs)
    p1, m1 = time.process_time(), time.thread_time(); t.stop()
print(json.dumps({"ms_per_s": ((p1 - p0) - (m1 - m0)) / secs * 1000}))
"""


WAKE = r"""
import threading, time
def wake(iv, done, work=None):  # wakes as the sampler does: a lock acquired with a timeout
    lock = threading.Lock(); lock.acquire()
    nxt = time.monotonic() + iv
    while not done.is_set():
        wait = nxt - time.monotonic()
        if wait > 0:
            lock.acquire(timeout=wait)
        if work is not None:
            work()
        nxt += iv
"""

PER_THREAD = WAKE + r"""
import json, sys
iv, root, db, secs, flush = float(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
done = threading.Event()
th = threading.Thread(target=wake, args=(iv, done), name="bare thread"); th.start()
from wattprint import Tracker
t = Tracker("bench", rapl_root=root, store=db, gpus="none", country="FR", interval=iv, flush_every_s=flush)
t.start(); time.sleep(1.0)  # the writer and the first flush are up
def cpu():
    return {x.name: time.clock_gettime(time.pthread_getcpuclockid(x.ident))
            for x in threading.enumerate() if x is not threading.main_thread()}
a = cpu(); time.sleep(secs); b = cpu()
t.stop(); done.set(); th.join()
print(json.dumps({k: (b[k] - a.get(k, 0.0)) / secs * 1000 for k in b}))
"""


FLOOR = WAKE + r"""
import json, os, sys
from itertools import repeat
iv, secs, files = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
fds = [os.open(f, os.O_RDONLY) for f in files]
def reads():  # what a raw tick must do at least: each counter file read once
    return tuple(map(os.pread, fds, repeat(32), repeat(0)))
out = {}
for name, work in (("wake-up only", None), (f"wake-up + {len(fds)} counter reads", reads)):
    done = threading.Event()
    th = threading.Thread(target=wake, args=(iv, done, work)); th.start(); time.sleep(0.5)
    clock = time.pthread_getcpuclockid(th.ident)
    a = time.clock_gettime(clock); time.sleep(secs); b = time.clock_gettime(clock)
    done.set(); th.join()
    out[name] = (b - a) / secs * 1000
print(json.dumps(out))
"""


def _rounds(label: str, reps: int, argv: Callable[[int, float], list[str]], timeout: float,
            env: dict[str, str] | None = None) -> list[tuple[float, dict[str, float]]]:
    """(interval, the script's JSON figures) for each of ``reps`` rounds at 1 s and 0.1 s; ``argv(round,
    interval)`` is what follows ``python -c``."""
    out = []
    for r in range(reps):
        for iv in (1.0, 0.1):
            res = subprocess.run([sys.executable, "-c", *argv(r, iv)], capture_output=True, text=True, env=env,
                                 timeout=timeout)
            if res.returncode != 0:
                raise SystemExit(res.stderr)
            out.append((iv, json.loads(res.stdout)))
            log(f"  {label} at {iv:g} s: {out[-1][1]}")
    return out


def floor_cost(tmp: Path, secs: float, reps: int) -> list[tuple[float, dict[str, float]]]:
    """(interval, ms CPU per second) of a bare thread waking the sampler's way, alone and reading the
    fake tree's counter files once per wake-up: the floor any sampler of those counters pays here."""
    from fake_rapl import make_tree

    root = make_tree(tmp / "powercap-f", packages=2, dram=True)
    files = sorted(str(p) for p in root.rglob("energy_uj"))
    return _rounds("floor", reps, lambda r, iv: [FLOOR, str(iv), str(secs), *files], 2 * secs + 60)


def print_floor(rows: list[tuple[float, dict[str, float]]]) -> None:
    print("\n## The floor: a bare thread waking the sampler's way, ms of CPU per second\n")
    names = list(rows[0][1])
    print(f"| interval | {' | '.join(names)} |\n|---|{'---|' * len(names)}")
    for iv in (1.0, 0.1):
        cells = [[m[n] for i, m in rows if i == iv] for n in names]
        print(f"| {iv:g} s | " + " | ".join(f"{min(c):.3f}–{max(c):.3f}" for c in cells) + " |")


def per_thread_cost(tmp: Path, secs: float, reps: int, flush: float) -> list[tuple[float, dict[str, float]]]:
    """(interval, ms CPU per second per thread) for each round at 1 s and 0.1 s."""
    from fake_rapl import make_tree

    root = make_tree(tmp / "powercap-t", packages=2, dram=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return _rounds("per thread", reps, lambda r, iv: [PER_THREAD, str(iv), str(root), str(tmp / f"t{r}{iv}.db"),
                                                      str(secs), str(flush)], secs + 60, env)


def print_per_thread(rows: list[tuple[float, dict[str, float]]]) -> None:
    print("\n## CPU per thread, ms per tracked second (a bare waking thread in the same process)\n")
    print("| interval | bare thread | wattprint-sampler | sampler above bare | wattprint-store | wattprint total |")
    print("|---|---|---|---|---|---|")
    for iv, m in rows:
        ours = sum(v for k, v in m.items() if k.startswith("wattprint-"))
        print(f"| {iv:g} s | {m['bare thread']:.3f} | {m['wattprint-sampler']:.3f} | "
              f"{m['wattprint-sampler'] - m['bare thread']:.3f} | {m.get('wattprint-store', 0.0):.3f} | {ours:.3f} |")


def sampler_cost(tmp: Path, secs: float, reps: int = 1, flush: float = FLUSH_S) -> list[tuple[str, float, float]]:
    """(which, interval, ms CPU per second) for each of ``reps`` rounds, bare thread and wattprint alternating."""
    from fake_rapl import make_tree

    root = make_tree(tmp / "powercap", packages=2, dram=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = []
    for iv, _ in ((iv, r) for r in range(reps) for iv in (1.0, 0.1)):
        for which in ("bare thread", "wattprint, fake RAPL, store"):
            res = subprocess.run([sys.executable, "-c", SAMPLER, which, str(iv), str(root), str(tmp / "s.db"),
                                  str(secs), str(flush)], capture_output=True, text=True, env=env, timeout=secs + 60)
            if res.returncode != 0:
                raise SystemExit(res.stderr)
            out.append((which, iv, json.loads(res.stdout)["ms_per_s"]))
            log(f"  {which} at {iv:g} s: {out[-1][2]:.3f} ms/s")
    return out


def print_sampler(samp: list[tuple[str, float, float]], flush: float = FLUSH_S) -> None:
    """The sampler table: min–max over the rounds, and whether the worst round meets the target."""
    print("\n## Sampler CPU per tracked second (whole process, main thread sleeping, "
          f"store flushed every {flush:g} s)\n")
    print("| interval | bare waking thread | wattprint (fake RAPL, store) | rounds | target |\n|---|---|---|---|---|")
    for iv, target in ((1.0, 0.2), (0.1, 1.5)):
        bare = [ms for which, i, ms in samp if i == iv and which == "bare thread"]
        wp = [ms for which, i, ms in samp if i == iv and which != "bare thread"]
        met = sum(ms <= target for ms in wp)
        print(f"| {iv:g} s | {min(bare):.3f}–{max(bare):.3f} ms/s | {min(wp):.3f}–{max(wp):.3f} ms/s | {len(wp)} | "
              f"≤ {target:g} ms/s: {ok(max(wp), target)} ({met} of {len(wp)} rounds) |")


def ok(value: float, target: float) -> str:
    return "yes" if value <= target else "**no**"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=float, default=7.0, help="length of the synthetic run at 1 s")
    ap.add_argument("--windows", type=int, default=100_000, help="windows in the second run")
    ap.add_argument("--sampler-s", type=float, default=20.0, help="seconds per sampler CPU measurement")
    ap.add_argument("--sampler-reps", type=int, default=3, help="rounds of the sampler CPU measurement")
    ap.add_argument("--only-sampler", action="store_true", help="measure the sampler's CPU only")
    ap.add_argument("--per-thread", action="store_true",
                    help="only the per-thread CPU, beside a bare waking thread in the same process")
    ap.add_argument("--floor", action="store_true",
                    help="only the floor: a bare waking thread, alone and reading the counter files")
    ap.add_argument("--flush-every", type=float, default=FLUSH_S, metavar="S",
                    help="the store's flush period in the sampler CPU measurements (default: the shipped 10 s)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.floor:
            print_floor(floor_cost(tmp, args.sampler_s, args.sampler_reps))
            return 0
        if args.per_thread:
            print_per_thread(per_thread_cost(tmp, args.sampler_s, args.sampler_reps, args.flush_every))
            return 0
        if args.only_sampler:
            print_sampler(sampler_cost(tmp, args.sampler_s, args.sampler_reps, args.flush_every), args.flush_every)
            return 0
        log(f"{args.days:g}-day run at 1 s ...")
        w = week(tmp / "week.db", args.days)
        log("CLI on it ...")
        html = tmp / "r.html"
        show = cli(tmp / "week.db", "show", w["run_id"])
        rep = cli(tmp / "week.db", "report", w["run_id"], "--format", "html", "-o", str(html))
        csv = cli(tmp / "week.db", "export", w["run_id"], "--format", "csv", "-o", str(tmp / "t.csv"))
        log(f"{args.windows} windows ...")
        wins = windows_run(tmp / "windows.db", args.windows)
        log("sampler CPU ...")
        samp = sampler_cost(tmp, args.sampler_s, args.sampler_reps)
    print(f"\n## Synthetic {args.days:g}-day run at 1 s ({w['intervals']:,} intervals, 4 channels)\n")
    print("| figure | value | target | met |\n|---|---|---|---|")
    print(f"| tracker RSS growth after the first hour | {w['rss_growth_mb']:.1f} MB | ≤ 20 MB | "
          f"{ok(w['rss_growth_mb'], TARGETS['memory'])} |")
    print(f"| Python allocations growth (tracemalloc) | {w['py_growth_mb']:.2f} MB | | |")
    print(f"| timeline rows held in memory (most) | {w['rows_held']:,} | bounded | |")
    print(f"| database size (with WAL) | {w['db_mb']:.1f} MB | ≤ 60 MB | {ok(w['db_mb'], TARGETS['db'])} |")
    for label, (secs, rss), key in (("`show`", show, "show"), ("`report --format html`", rep, "html"),
                                    ("`export --format csv`", csv, "csv")):
        print(f"| {label} | {secs:.2f} s, {rss:.0f} MB RSS | ≤ {TARGETS[key]:g} s, ≤ 150 MB | "
              f"{ok(secs, TARGETS[key]) if rss <= TARGETS['rss'] else '**no**'} |")
    print(f"| (driving the run through the real code took {w['drive_s']:.0f} s) | | | |")
    print("\n## Windows\n\n| windows held | idle flush CPU | memory held (tracemalloc) |\n|---|---|---|")
    for n, ms, mb in wins:
        print(f"| {n:,} | {ms:.2f} ms | {mb:.1f} MB |")
    print_sampler(samp)
    if args.json:
        Path(args.json).write_text(json.dumps({"week": w, "show": show, "html": rep, "csv": csv,
                                               "windows": wins, "sampler": samp}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
