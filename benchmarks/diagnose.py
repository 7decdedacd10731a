#!/usr/bin/env python3
"""Where wattprint's start-up and sampling time goes (run after peers.py built the venv).

    python benchmarks/diagnose.py

Prints, for the wattprint venv under benchmarks/.venvs/wattprint:
1. the import of ``from wattprint import Tracker`` under ``python -X importtime``
   (cumulative µs of the largest modules, median of 5 runs);
2. the steps of ``Tracker.start()`` on this host, timed one by one in a fresh process;
3. the CPU cost per sampler tick against the floor of a bare Python thread that only
   wakes up at the same interval (main thread sleeping, 5 s each).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers_lib.common import child_env  # noqa: E402
from peers_lib.fakerapl import FakeRapl  # noqa: E402
from peers_lib.venvs import VENV_ROOT  # noqa: E402

PY = str(VENV_ROOT / "wattprint" / "bin" / "python")

START_STEPS = r"""
import json, time
from wattprint import Tracker
out = {}
t = time.perf_counter(); import psutil; out["import psutil"] = time.perf_counter() - t
t = time.perf_counter(); import wattprint.sensors.hwdb; out["import sensors.hwdb"] = time.perf_counter() - t
t = time.perf_counter(); import wattprint.sensors.cpu.model; out["import sensors.cpu.model"] = time.perf_counter() - t
t = time.perf_counter(); from wattprint.sensors.cpu.choice import open_cpu_sensors
out["import sensors.cpu.choice"] = time.perf_counter() - t
t = time.perf_counter(); open_cpu_sensors(None)
out["open_cpu_sensors() (RAPL or model + TDP match)"] = time.perf_counter() - t
t = time.perf_counter(); from wattprint.sensors.gpu.selection import open_gpu_sensors
out["import sensors.gpu.selection"] = time.perf_counter() - t
t = time.perf_counter(); open_gpu_sensors(None)
out["open_gpu_sensors() (NVML/amdsmi probe)"] = time.perf_counter() - t
t = time.perf_counter(); tr = Tracker(store=False, country="US"); out["Tracker() (warm)"] = time.perf_counter() - t
t = time.perf_counter(); tr.start(); out["start() (warm, modules loaded)"] = time.perf_counter() - t
tr.stop()
print(json.dumps(out))
"""

TICK = r"""
import json, sys, threading, time
which, iv, root = sys.argv[1], float(sys.argv[2]), sys.argv[3]
secs = 5.0
if which == "bare thread":
    ev = threading.Event(); box = {}
    def loop():
        c0 = time.thread_time(); nxt = time.monotonic() + iv
        while not ev.wait(max(0.0, nxt - time.monotonic())):
            nxt += iv
        box["cpu"] = time.thread_time() - c0
    th = threading.Thread(target=loop); th.start(); time.sleep(secs); ev.set(); th.join()
    cpu = box["cpu"]
else:
    from wattprint import Tracker
    kw = {"rapl_root": root} if which == "wattprint, fake RAPL" else {}
    t = Tracker(store=False, country="US", interval=iv, **kw)
    t.start(); p0, m0 = time.process_time(), time.thread_time(); time.sleep(secs)
    p1, m1 = time.process_time(), time.thread_time(); t.stop()
    cpu = (p1 - p0) - (m1 - m0)
print(json.dumps({"ms_per_s": cpu / secs * 1000, "ms_per_tick": cpu / (secs / iv) * 1000}))
"""


def run(code: str, *args: str) -> dict:
    proc = subprocess.run(
        [PY, "-c", code, *args], capture_output=True, text=True, env=child_env(), check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def importtime() -> list[tuple[str, float]]:
    runs: dict[str, list[int]] = {}
    for _ in range(5):
        proc = subprocess.run(
            [PY, "-X", "importtime", "-c", "from wattprint import Tracker"],
            capture_output=True,
            text=True,
            env=child_env(),
        )
        for line in proc.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            _self, cum, name = line.split(":", 1)[1].split("|")
            runs.setdefault(name.strip(), []).append(int(cum))
    med = {k: statistics.median(v) for k, v in runs.items()}
    return sorted(med.items(), key=lambda kv: -kv[1])[:15]


def main() -> int:
    print("## 1. `from wattprint import Tracker` under -X importtime (cumulative, median of 5)\n")
    print("| module | cumulative ms |\n|---|---|")
    for name, us in importtime():
        print(f"| `{name}` | {us / 1000:.1f} |")
    print("\n## 2. Steps of start() on this host (fresh process, one by one)\n")
    print("| step | ms |\n|---|---|")
    for k, v in run(START_STEPS).items():
        print(f"| {k} | {v * 1000:.1f} |")
    print("\n## 3. Sampler CPU per tick vs a bare waking thread (main thread sleeping, 5 s)\n")
    tree = Path(tempfile.mkdtemp(prefix="fake-powercap-")) / "powercap"
    FakeRapl.build(tree, package_range_j=262143.3, package_start_j=1000.0,
                   dram_range_j=65712.9, dram_start_j=100.0, package_max_w=200.0).close()
    print("| thread | interval | ms CPU per tick | ms CPU per second |\n|---|---|---|---|")
    for iv in ("1", "0.1"):
        for which in ("bare thread", "wattprint, host sensors", "wattprint, fake RAPL"):
            r = run(TICK, which, iv, str(tree))
            print(f"| {which} | {iv} s | {r['ms_per_tick']:.3f} | {r['ms_per_s']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
