"""``wattprint exporter`` scrape figures: latency and the agent's CPU per scrape. Prints figures; asserts nothing.

    python benchmarks/fleet_exporter.py [--scrapes 500] [--packages 2] [--interval 1]

Starts a real ``wattprint exporter`` process on a fake powercap tree (``--packages``
packages, each with a DRAM sub-zone: two channels per package) and scrapes its
``/metrics`` over HTTP from this process, one scrape at a time, as fast as it
answers (a Prometheus server scrapes every 15-60 s: this is far past any real load).

* **latency**: wall time of each scrape (connect, request, whole body read), median,
  p95 and p99, on a fresh connection each time as Prometheus does after an idle gap;
* **CPU per scrape**: the agent's CPU time (``/proc/PID/stat`` utime + stime) over the
  scrape loop, less its idle CPU over the same wall time (measured first, with no
  scrapes: the sampler's own ticks), divided by the number of scrapes;
* **idle CPU**: the agent's CPU per second with no scrapes (sampling only; from the
  threads' ``schedstat``, as it is below one clock tick over the 5 s it is measured);
* **body**: the size of one scrape, and the number of series in it;
* **collect**: one in-process ``generate_latest()`` of the same sink (the
  exposition alone, without HTTP), median over ``--scrapes`` calls.
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("WATTPRINT_NO_CLOUD_PROBE", "1")

from fake_rapl import make_tree  # noqa: E402  (tests/ on the path above)

TICK_S = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK_S


def threads_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid``'s live threads, to the nanosecond (``schedstat``): for the idle figure,
    which is below one clock tick over seconds; exited threads are not in it, so scrapes use cpu_s."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as fh:
                total += int(fh.read().split()[0])
        except (OSError, ValueError):
            continue
    return total / 1e9


def start_agent(root: Path, interval: float) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "wattprint.cli.main", "exporter", "--port", "0", "--rapl-root",
                             str(root), "--country", "FR", "--interval", str(interval)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert proc.stderr is not None
    ready, _, _ = select.select([proc.stderr], [], [], 60)
    line = proc.stderr.readline() if ready else ""
    if "serving " not in line:
        proc.kill()
        raise SystemExit(f"the exporter did not start: {line!r}")
    return proc, line.split("serving ", 1)[1].split()[0]


def scrape(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def in_process_collect_ms(root: Path, n: int) -> float:
    from prometheus_client import generate_latest

    from wattprint.sinks.prometheus import PrometheusSink
    from wattprint.tracking.tracker import Tracker

    sink = PrometheusSink(run_labels=False)
    t = Tracker(rapl_root=str(root), country="FR", store=False, sinks=[sink], interval=0.1)
    t.start()
    try:
        time.sleep(0.3)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            generate_latest(sink.registry)
            times.append((time.perf_counter() - t0) * 1e3)
    finally:
        t.stop()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scrapes", type=int, default=500)
    ap.add_argument("--packages", type=int, default=2)
    ap.add_argument("--interval", type=float, default=1.0, help="the agent's sampling interval, seconds")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = make_tree(Path(tmp) / "pc", packages=args.packages)
        proc, url = start_agent(root, args.interval)
        try:
            body = scrape(url)  # warm: first scrape imports the exposition code
            time.sleep(1.0)
            idle_wall = 5.0
            c0, w0 = threads_cpu_s(proc.pid), time.monotonic()
            time.sleep(idle_wall)
            idle_cpu_per_s = (threads_cpu_s(proc.pid) - c0) / (time.monotonic() - w0)
            lat = []
            c0, w0 = cpu_s(proc.pid), time.monotonic()
            for _ in range(args.scrapes):
                t0 = time.perf_counter()
                body = scrape(url)
                lat.append((time.perf_counter() - t0) * 1e3)
            wall = time.monotonic() - w0
            busy = cpu_s(proc.pid) - c0 - idle_cpu_per_s * wall
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        collect = in_process_collect_ms(root, args.scrapes)
    series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    print(f"wattprint exporter, {args.packages} package(s) = {2 * args.packages} channels, "
          f"interval {args.interval:g} s, {args.scrapes} scrapes back to back")
    print(f"  scrape latency     median {statistics.median(lat):.2f} ms, p95 {pct(lat, 0.95):.2f} ms, "
          f"p99 {pct(lat, 0.99):.2f} ms, max {max(lat):.2f} ms")
    print(f"  agent CPU / scrape {busy / args.scrapes * 1e3:.2f} ms (idle CPU subtracted; clock tick "
          f"{1e3 / TICK_S:.0f} ms, over {wall:.1f} s)")
    print(f"  agent idle CPU     {idle_cpu_per_s * 1e3:.3f} ms per second (sampling only)")
    print(f"  body               {len(body)} bytes, {series} series")
    print(f"  collect in process {collect:.3f} ms median (generate_latest, no HTTP)")


if __name__ == "__main__":
    main()
