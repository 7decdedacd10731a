"""Core overhead figures for wattprint itself (issue 2's targets). Prints figures; asserts nothing.

    python benchmarks/core.py [--repeat 15]

* ``import wattprint`` (median over fresh interpreters), and ``from wattprint
  import Tracker`` (what using the API costs);
* start → first reading: ``Tracker(...).start()`` returning with the first
  counter read done (a fake powercap tree, so the figure is the same with or
  without RAPL here);
* sampler CPU time per tracked second at 1 s and 0.1 s intervals (the sampler
  thread's own CPU clock);
* a window open+close against one raw read of the same counters (a window
  reads the counters fresh at both edges, so two raw reads are its floor).

Run it with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` unset): an
installed package has its ``.pyc`` files, and timing the compiler instead of
the import says nothing about wattprint.

Targets: import ≤ 25 ms, start ≤ 50 ms, sampler ≤ 0.2 ms CPU per second at 1 Hz,
window ≤ 2× the raw read.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("WATTPRINT_NO_CLOUD_PROBE", "1")


def fresh_interpreter_ms(code: str, repeat: int) -> float:
    """Median wall time of ``code`` in a fresh interpreter, minus an empty interpreter's."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True, env=env,
                   stdout=subprocess.DEVNULL)

    def timed(snippet: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", f"import time; t=time.perf_counter(); {snippet}; "
             "print(time.perf_counter()-t)"],
            capture_output=True, text=True, env=env, check=True,
        )
        return float(out.stdout.strip()) * 1e3

    return statistics.median(timed(code) for _ in range(repeat))


def cold_start_ms(repeat: int) -> float:
    """First ``start()`` in a fresh interpreter on this host's own sensors (imports included)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), WATTPRINT_NO_CLOUD_PROBE="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    code = (
        "import time, os\nfrom wattprint import Tracker\n"
        "t = time.perf_counter(); Tracker(store=False, country='FR').start()\n"
        "print(time.perf_counter() - t); os._exit(0)"
    )

    def once() -> float:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        return float(out.stdout.strip()) * 1e3

    return statistics.median(once() for _ in range(repeat))


def start_to_first_reading_ms(rapl: Path, repeat: int) -> float:
    import wattprint

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        t = wattprint.Tracker(rapl_root=rapl, store=False, gpus="none", country="FR")
        run = t.start()  # returns after the first read of every counter
        times.append((time.perf_counter() - t0) * 1e3)
        assert run.channels, "no channel read"
        t.stop()
    return statistics.median(times)


def sampler_cpu_ms_per_s(rapl: Path, interval: float, seconds: float) -> float:
    import wattprint

    t = wattprint.Tracker(rapl_root=rapl, store=False, gpus="none", country="FR", interval=interval)
    run = t.start()
    time.sleep(seconds)
    cpu = run._sampler.cpu_time_s
    t.stop()
    return cpu * 1e3 / seconds


def window_vs_raw_us(rapl: Path, n: int) -> tuple[float, float]:
    import wattprint

    t = wattprint.Tracker(rapl_root=rapl, store=False, gpus="none", country="FR", interval=10)
    run = t.start()
    sensors = run._sampler.sensors
    t0 = time.perf_counter()
    for _ in range(n):
        for s in sensors:
            s.read()
    raw = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for _ in range(n):
        with run.window("w"):
            pass
    win = (time.perf_counter() - t0) / n
    t.stop()
    return raw * 1e6, win * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--seconds", type=float, default=10.0, help="tracked seconds per sampler figure")
    args = ap.parse_args()
    from fake_rapl import make_tree

    with tempfile.TemporaryDirectory() as d:
        rapl = make_tree(Path(d) / "powercap", packages=2, dram=True)
        imp = fresh_interpreter_ms("import wattprint", args.repeat)
        api = fresh_interpreter_ms("from wattprint import Tracker", args.repeat)
        start = start_to_first_reading_ms(rapl, args.repeat)
        cold = cold_start_ms(args.repeat)
        s1 = sampler_cpu_ms_per_s(rapl, 1.0, args.seconds)
        s01 = sampler_cpu_ms_per_s(rapl, 0.1, args.seconds)
        raw, win = window_vs_raw_us(rapl, 2000)
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPUs")
    print(f"import wattprint                  {imp:8.2f} ms   (target ≤ 25 ms)")
    print(f"from wattprint import Tracker     {api:8.2f} ms")
    print(f"start → first reading, first run  {cold:8.2f} ms   (target ≤ 50 ms; host sensors, imports included)")
    print(f"start → first reading, later runs {start:8.2f} ms   (fake RAPL tree, modules loaded)")
    print(f"sampler CPU per tracked s @ 1 s   {s1:8.3f} ms   (target ≤ 0.2 ms)")
    print(f"sampler CPU per tracked s @ 0.1 s {s01:8.3f} ms")
    print(f"raw read of the counters          {raw:8.1f} µs")
    print(
        f"window open+close                 {win:8.1f} µs   ({win / raw:.2f}× one raw read, target ≤ 2×; "
        f"{win / (2 * raw):.2f}× the two reads a window needs)"
    )


if __name__ == "__main__":
    main()
