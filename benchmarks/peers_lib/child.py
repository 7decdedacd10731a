"""One measurement in a fresh interpreter; run by peers.py / accuracy.py inside a tool's venv.

Usage: ``<venv>/bin/python child.py '<json spec>'``. The last stdout line is a JSON object
with the figures. Only the standard library is imported before the tool itself, so the
import time and memory figures are the tool's own.

Definitions (seconds from ``time.perf_counter``; CPU seconds from ``time.process_time`` /
``time.thread_time``):

* ``import_s``: the statement a user writes to get the tracking API
  (``import wattprint``; ``from codecarbon import OfflineEmissionsTracker``;
  ``from zeus.monitor import ZeusMonitor``).
* ``first_s``: from the call of ``start()`` to the moment the tool holds its first energy
  reading: wattprint, the first sample the sampler records (its sensor-read function
  returns for the first time, hooked); CodeCarbon, the return of the first
  ``_measure_power_and_energy()`` call, which ``start()`` makes itself after hardware
  detection and the initial counter snapshot (hooked on the instance); Zeus, the return of
  ``begin_window()`` (it reads counters there), counted from the constructor call because
  Zeus discovers hardware in its constructor.
* tracker CPU: process CPU minus main-thread CPU while the main thread runs the workload,
  i.e. every other thread of the process (the tool's samplers/timers, including
  short-lived ``threading.Timer`` threads that a per-thread reading would miss).
* coverage: sum of the intervals the tool integrated energy over, divided by the
  duration it reports for the run.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time

T_ZERO = time.perf_counter()
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_now_mb() -> float:
    """Resident set size now (``/proc/self/statm``), MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 1e6


RSS0_KB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
RSS0_MB = rss_now_mb()


def work(n: int) -> int:
    """A fixed pure-Python CPU-bound loop (holds the GIL, like Python-side ML glue code)."""
    acc = 0
    for i in range(n):
        acc = (acc + i * i) % 1000003
    return acc


# --------------------------------------------------------------------------- adapters


class Adapter:
    """The same lifecycle for every tool: import, make, start, stop -> dict."""

    name = "?"

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.first_t: float | None = None
        self.api = None

    def import_api(self) -> None:
        raise NotImplementedError

    def make(self, interval: float | None) -> None:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> dict:
        raise NotImplementedError

    def _mark_first(self) -> None:
        if self.first_t is None:
            self.first_t = time.perf_counter()


class WattprintAdapter(Adapter):
    name = "wattprint"

    def import_api(self) -> None:
        from wattprint import Tracker

        self.api = Tracker

    def make(self, interval: float | None) -> None:
        kwargs: dict = {"store": False}
        if interval is not None:
            kwargs["interval"] = interval
        if self.spec.get("rapl_root"):
            kwargs["rapl_root"] = self.spec["rapl_root"]
        if self.spec.get("country"):
            kwargs["country"] = self.spec["country"]
        self._hook_first_sample()
        self.tracker = self.api("bench", **kwargs)

    def _hook_first_sample(self) -> None:
        """Wrap the sampler's read-all-sensors step so its first return is timestamped."""
        import importlib

        try:
            mod = importlib.import_module("wattprint.tracking.sampler")
        except ImportError:
            return
        target = None
        for cls_name in ("Sampler",):
            cls = getattr(mod, cls_name, None)
            if cls is None:
                continue
            for meth in ("read_now", "_read_all", "read_all", "_sample", "sample"):
                if callable(getattr(cls, meth, None)):
                    target = (cls, meth)
                    break
        if target is None:
            return
        cls, meth = target
        orig = getattr(cls, meth)
        adapter = self

        def wrapped(*args, **kwargs):
            out = orig(*args, **kwargs)
            adapter._mark_first()
            return out

        setattr(cls, meth, wrapped)
        self.hooked = f"{cls.__name__}.{meth}"

    def open_window(self) -> None:
        self.win = self.live_run.open_window("w")

    def close_window(self) -> dict:
        self.win.close()
        return {k: getattr(c, "energy_j", None) for k, c in self.win.channels.items()}

    def start(self) -> None:
        self.live_run = self.tracker.start()
        sampler = getattr(self.tracker, "_sampler", None)
        self.tick_s = getattr(sampler, "tick_s", None)

    def stop(self) -> dict:
        run = self.tracker.stop()
        chans = {}
        for key, ch in (getattr(run, "channels", None) or {}).items():
            chans[str(key)] = {
                "energy_j": getattr(ch, "energy_j", None),
                "method": str(getattr(ch, "method", "")),
            }
        dur = getattr(run, "duration_s", None)
        cov = getattr(run, "coverage_s", None)
        return {
            "energy_j": getattr(run, "energy_j", None),
            "duration_s": dur,
            "coverage_s": cov,
            "coverage": (cov / dur) if (cov is not None and dur) else None,
            "channels": chans,
            "hook": getattr(self, "hooked", None),
            "sampler_thread_cpu_s": getattr(getattr(self.tracker, "_sampler", None), "cpu_time_s", None),
            "sampler_tick_s": getattr(self, "tick_s", None),
            "faults": [str(getattr(f, "message", f)) for f in getattr(run, "faults", [])][:5],
        }


class CodeCarbonAdapter(Adapter):
    name = "codecarbon"

    def import_api(self) -> None:
        from codecarbon import OfflineEmissionsTracker

        self.api = OfflineEmissionsTracker
        self.dt_sum: dict[str, float] = {}
        if self.spec.get("rapl_root"):
            self._point_at_fake_rapl(self.spec["rapl_root"])
        self._hook_hardware()

    def _point_at_fake_rapl(self, root: str) -> None:
        """CodeCarbon has no public option for the RAPL directory: the tracker always uses
        /sys/class/powercap. Re-point its two internal look-ups (module attributes) at the
        fake tree, exactly as its own default path is laid out (``<root>/intel-rapl/subsystem``
        being a link back to ``<root>``)."""
        import codecarbon.core.cpu as cc_cpu
        import codecarbon.external.hardware as cc_hw

        rapl_dir = os.path.join(root, "intel-rapl", "subsystem")
        orig_avail = cc_cpu.is_rapl_available
        orig_rapl = cc_hw.IntelRAPL

        def is_available(rapl_dir_arg=None):
            return orig_avail(rapl_dir)

        def intel_rapl(*args, **kwargs):
            kwargs["rapl_dir"] = rapl_dir
            return orig_rapl(*args, **kwargs)

        cc_cpu.is_rapl_available = is_available
        cc_hw.IntelRAPL = intel_rapl

    def _hook_hardware(self) -> None:
        """Sum the Δt CodeCarbon hands each device, to compute its coverage."""
        import codecarbon.external.hardware as cc_hw
        import codecarbon.external.ram as cc_ram

        for cls in (cc_hw.CPU, cc_hw.GPU, cc_ram.RAM):
            orig = cls.measure_power_and_energy
            label = cls.__name__

            def wrapped(hw_self, *args, _orig=orig, _label=label, **kwargs):
                dt = kwargs.get("last_duration", args[0] if args else 0.0)
                self.dt_sum[_label] = self.dt_sum.get(_label, 0.0) + float(dt)
                self.span_end = time.perf_counter()  # Δt was computed just before this call
                return _orig(hw_self, *args, **kwargs)

            cls.measure_power_and_energy = wrapped

    def make(self, interval: float | None) -> None:
        kwargs: dict = {
            "country_iso_code": self.spec.get("cc_country", "USA"),
            "save_to_file": False,
            "log_level": "error",
        }
        if interval is not None:
            kwargs["measure_power_secs"] = interval
        if self.spec.get("rapl_root"):
            kwargs["rapl_include_dram"] = bool(self.spec.get("cc_include_dram", False))
        self.tracker = self.api(**kwargs)
        orig = self.tracker._measure_power_and_energy
        adapter = self

        def first_measure(*args, **kwargs):
            out = orig(*args, **kwargs)
            adapter._mark_first()
            return out

        # start() calls self._measure_power_and_energy() directly; the scheduler holds
        # the original bound method, so only that first call goes through this hook.
        self.tracker._measure_power_and_energy = first_measure

    def start(self) -> None:
        self.tracker.start()
        self.cc_start = self.tracker._start_time  # perf_counter(); stop() resets it

    def open_window(self) -> None:
        self.tracker.start_task("w")

    def close_window(self) -> dict:
        data = self.tracker.stop_task()
        kwh = 3.6e6
        return {"cpu": float(data.cpu_energy) * kwh, "ram": float(data.ram_energy) * kwh}

    def stop(self) -> dict:
        self.tracker.stop()
        data = getattr(self.tracker, "final_emissions_data", None)
        kwh = 3.6e6
        dur = float(data.duration) if data is not None else None
        out = {
            "energy_j": float(data.energy_consumed) * kwh if data is not None else None,
            "duration_s": dur,
            "dt_sum": self.dt_sum,
            "channels": {},
        }
        if data is not None:
            out["channels"] = {
                "cpu": {"energy_j": float(data.cpu_energy) * kwh},
                "ram": {"energy_j": float(data.ram_energy) * kwh},
                "gpu": {"energy_j": float(data.gpu_energy) * kwh},
            }
            out["cpu_mode"] = [
                getattr(h, "_mode", type(h).__name__) for h in self.tracker._hardware
            ]
        if self.dt_sum and dur:
            # Denominator: the span from CodeCarbon's start time to the end of the last
            # interval it integrated (its final measurement in stop()), not its reported
            # duration, which also counts the output work done after that measurement.
            span = self.span_end - self.cc_start
            out["span_s"] = span
            out["coverage_by_device"] = {k: v / span for k, v in self.dt_sum.items()}
            out["coverage"] = min(out["coverage_by_device"].values())
            out["coverage_of_reported_duration"] = min(self.dt_sum.values()) / dur
        return out


class ZeusAdapter(Adapter):
    name = "zeus"

    def import_api(self) -> None:
        from zeus.monitor import ZeusMonitor

        self.api = ZeusMonitor
        if self.spec.get("rapl_root"):
            # Zeus keeps its RAPL directory in a module constant (no public option):
            # re-point it at the fake tree before any device discovery.
            import zeus.device.cpu.rapl as zrapl

            zrapl.RAPL_DIR = os.path.join(self.spec["rapl_root"], "intel-rapl")
            zrapl.rapl_is_available.cache_clear()

    def make(self, interval: float | None) -> None:
        self.make_t = time.perf_counter()
        if self.spec.get("rapl_root"):
            self.monitor = self.api(cpu_indices=[0], gpu_indices=[])
        else:
            self.monitor = self.api()

    def start(self) -> None:
        self.monitor.begin_window("bench")
        self._mark_first()

    def open_window(self) -> None:
        self.monitor.begin_window("w")

    def close_window(self) -> dict:
        m = self.monitor.end_window("w")
        return {
            "cpu": (m.cpu_energy or {}).get(0),
            "dram": (m.dram_energy or {}).get(0),
        }

    def stop(self) -> dict:
        m = self.monitor.end_window("bench")
        total = getattr(m, "total_energy", None)
        chans = {}
        if m.cpu_energy:
            chans["cpu"] = {"energy_j": m.cpu_energy.get(0)}
        if m.dram_energy:
            chans["dram"] = {"energy_j": m.dram_energy.get(0)}
        out = {
            "energy_j": float(total) if total is not None else None,
            "duration_s": float(getattr(m, "time", 0.0)),
            "channels": chans,
        }
        if not self.spec.get("rapl_root"):
            out["note"] = "no GPU and no RAPL here: Zeus measures nothing on this machine"
        return out


ADAPTERS = {"wattprint": WattprintAdapter, "codecarbon": CodeCarbonAdapter, "zeus": ZeusAdapter}


# --------------------------------------------------------------------------- modes


def rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def mode_lifecycle(spec: dict) -> dict:
    """Import, construct, start, run a short job, stop; one of each per process."""
    ad = ADAPTERS[spec["tool"]](spec)
    mods0 = len(sys.modules)
    t0 = time.perf_counter()
    ad.import_api()
    t1 = time.perf_counter()
    rss_import = rss_kb()
    rss_import_now = rss_now_mb()
    mods1 = len(sys.modules)
    ad.make(spec.get("interval"))
    t2 = time.perf_counter()
    ad.start()
    t3 = time.perf_counter()
    j0 = time.perf_counter()
    work(spec["job_n"])
    j1 = time.perf_counter()
    result = ad.stop()
    t4 = time.perf_counter()
    first_from = t2 if spec["tool"] != "zeus" else t1  # zeus: constructor discovers hardware
    return {
        "import_s": t1 - t0,
        "modules_imported": mods1 - mods0,
        "construct_s": t2 - t1,
        "start_s": t3 - t2,
        "first_s": (ad.first_t - first_from) if ad.first_t is not None else None,
        "stop_s": t4 - j1,
        "job_s": j1 - j0,
        "added_s": (t4 - t1) - (j1 - j0),
        "import_rss_mb": (rss_import - RSS0_KB) / 1024,
        "import_rss_now_mb": rss_import_now - RSS0_MB,
        "peak_rss_mb": (rss_kb() - RSS0_KB) / 1024,
        "end_rss_now_mb": rss_now_mb() - RSS0_MB,
        "modules_total": len(sys.modules) - mods0,
        "threads_after_stop": threading.active_count(),
        "result": result,
    }


def mode_overhead(spec: dict) -> dict:
    """Steady-state cost of a running tracker while the main thread runs a fixed workload.

    With ``tracked`` false this is the baseline: the same tool imported, a tracker
    started and stopped *before* the loop (so the process is in the same state), then
    the loop alone.
    """
    ad = ADAPTERS[spec["tool"]](spec)
    ad.import_api()
    ad.make(spec["interval"])
    tracked = spec["tracked"]
    if not tracked:
        ad.start()
        ad.stop()
    else:
        ad.start()
    time.sleep(0.05)  # let start-up threads settle so they are not charged to the loop
    p0, m0, w0 = time.process_time(), time.thread_time(), time.perf_counter()
    if spec.get("idle_s"):
        time.sleep(spec["idle_s"])  # the host program waits (I/O, GPU): no GIL contention
    else:
        work(spec["n"])
    w1, m1, p1 = time.perf_counter(), time.thread_time(), time.process_time()
    threads_running = threading.active_count()
    result = ad.stop() if tracked else None
    other_cpu = (p1 - p0) - (m1 - m0)
    return {
        "loop_wall_s": w1 - w0,
        "loop_cpu_s": m1 - m0,
        "other_cpu_s": other_cpu,
        "other_cpu_ms_per_s": 1000 * other_cpu / (w1 - w0),
        "threads_during_loop": threads_running,
        "result": result,
    }


def mode_accuracy(spec: dict) -> dict:
    """Start a tracker on a (fake) RAPL tree, say READY, then obey stdin line by line:
    ``open`` / ``close`` a window (CodeCarbon: a task), ``stop``. Each is answered ``OK``
    once done, so the driver can bracket when the counters were read."""
    ad = ADAPTERS[spec["tool"]](spec)
    ad.import_api()
    ad.make(spec.get("interval"))
    ad.start()
    print("READY", flush=True)
    windows = []
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "open":
            ad.open_window()
        elif cmd == "close":
            windows.append(ad.close_window())
        elif cmd == "stop":
            break
        print("OK", flush=True)
    result = ad.stop()
    return {"result": result, "windows": windows}


def mode_calibrate(spec: dict) -> dict:
    work(spec["n"] // 10)
    t0 = time.perf_counter()
    work(spec["n"])
    return {"wall_s": time.perf_counter() - t0}


MODES = {
    "lifecycle": mode_lifecycle,
    "overhead": mode_overhead,
    "accuracy": mode_accuracy,
    "calibrate": mode_calibrate,
}


def main() -> None:
    spec = json.loads(sys.argv[1])
    out = MODES[spec["mode"]](spec)
    out["wall_total_s"] = time.perf_counter() - T_ZERO
    print(json.dumps(out, default=str), flush=True)


if __name__ == "__main__":
    main()
