"""Check wattprint's GPU figures on a real NVIDIA GPU (needs nvidia-ml-py and torch with CUDA).

Runs ~20 s of matrix multiplications with idle gaps on the first GPU the work
can see (CUDA_VISIBLE_DEVICES honoured), and prints:

* energy from NVML's total-energy counter against energy from integrating
  nvmlDeviceGetPowerUsage, both polled directly through pynvml in a tight
  loop (default 10 Hz) over the same span: independent of wattprint's API;
* the same spans through wattprint (``Tracker`` + ``run.window``), per window;
* the cost of one NVML read, of one wattprint sensor read, and the sampler
  thread's CPU time per tracked second.

Usage:  python benchmarks/gpu_check.py [--seconds 20] [--hz 10] [--size 8192] [--json out.json]

Without an NVIDIA GPU (no pynvml, no driver, no GPU, or no CUDA torch) it says
which, and exits with status 2 before measuring anything.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

EXIT_CANNOT_RUN = 2


def cannot_run(message: str) -> None:
    print(f"gpu_check: {message}", file=sys.stderr)
    raise SystemExit(EXIT_CANNOT_RUN)


# ----------------------------------------------------------------------------- raw NVML


class RawPoller(threading.Thread):
    """Polls the energy counter (mJ) and power (mW) of one GPU at ``hz``, with timestamps."""

    def __init__(self, nvml: Any, handle: Any, hz: float) -> None:
        super().__init__(daemon=True)
        self.nvml, self.handle, self.period = nvml, handle, 1.0 / hz
        self.samples: list[tuple[float, float | None, float | None]] = []  # (t, J, W)
        self._stop_evt = threading.Event()

    def read(self) -> tuple[float, float | None, float | None]:
        t = time.perf_counter()
        try:
            e = self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) / 1000.0
        except self.nvml.NVMLError:
            e = None
        try:
            p = self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0
        except self.nvml.NVMLError:
            p = None
        return t, e, p

    def run(self) -> None:
        nxt = time.perf_counter()
        while not self._stop_evt.is_set():
            self.samples.append(self.read())
            nxt += self.period
            self._stop_evt.wait(max(0.0, nxt - time.perf_counter()))
        self.samples.append(self.read())

    def stop(self) -> None:
        self._stop_evt.set()
        self.join()

    def span(self, t0: float, t1: float) -> dict[str, float | None]:
        """Counter and integrated-power energy (J) between t0 and t1, by linear interpolation."""
        pts = self.samples
        counter = None
        if all(s[1] is not None for s in pts):
            counter = _interp(pts, t1, 1) - _interp(pts, t0, 1)
        integ = None
        if all(s[2] is not None for s in pts):
            integ = 0.0
            inside = [(t0, _interp(pts, t0, 2))] + [(t, p) for t, _, p in pts if t0 < t < t1]
            inside.append((t1, _interp(pts, t1, 2)))
            for (ta, pa), (tb, pb) in zip(inside, inside[1:]):
                integ += (pa + pb) / 2 * (tb - ta)
        return {"counter_j": counter, "power_integrated_j": integ}


def _interp(pts: list[tuple[float, float | None, float | None]], t: float, col: int) -> float:
    if t <= pts[0][0]:
        return float(pts[0][col])  # type: ignore[arg-type]
    for a, b in zip(pts, pts[1:]):
        if a[0] <= t <= b[0]:
            f = (t - a[0]) / (b[0] - a[0]) if b[0] > a[0] else 0.0
            return float(a[col]) + f * (float(b[col]) - float(a[col]))  # type: ignore[arg-type]
    return float(pts[-1][col])  # type: ignore[arg-type]


def per_call_us(fn: Any, *args: Any, n: int = 500) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn(*args)
    return (time.perf_counter() - t) / n * 1e6


# ----------------------------------------------------------------------------- workload


def matmul_for(torch: Any, seconds: float, size: int) -> int:
    """Back-to-back fp16 matmuls on cuda:0 for ``seconds``; returns how many ran."""
    a = torch.randn(size, size, device="cuda", dtype=torch.float16)
    b = torch.randn(size, size, device="cuda", dtype=torch.float16)
    done = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(8):
            a @ b
        torch.cuda.synchronize()
        done += 8
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="total length of the check (default 20)")
    ap.add_argument("--hz", type=float, default=10.0, help="raw NVML polling rate (default 10)")
    ap.add_argument("--interval", type=float, default=0.5, help="wattprint sampling interval, s")
    ap.add_argument("--size", type=int, default=8192, help="matrix size (default 8192)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    try:
        import pynvml
    except ImportError:
        cannot_run("needs nvidia-ml-py: pip install 'wattprint[nvidia]' (and an NVIDIA GPU)")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        cannot_run(f"no usable NVIDIA driver/GPU on this machine (nvmlInit: {exc}); nothing to check")
    if pynvml.nvmlDeviceGetCount() == 0:
        cannot_run("NVML found no NVIDIA GPU; nothing to check")
    try:
        import torch
    except ImportError:
        cannot_run("needs torch with CUDA for the matmul load: pip install torch")
    if not torch.cuda.is_available():
        cannot_run("torch is installed but sees no CUDA device")

    from wattprint.sensors.gpu import nvml as nvml_mod
    from wattprint.sensors.gpu.selection import open_gpu_sensors, select_gpus

    probe = nvml_mod.probe(pynvml)
    selected, _ = select_gpus(probe.inventory or [], None)
    if not selected:
        cannot_run("CUDA_VISIBLE_DEVICES hides every GPU")
    target = selected[0].gpu
    handle = pynvml.nvmlDeviceGetHandleByIndex(target.index)
    channel = f"gpu:{target.uuid}"
    print(f"GPU {target.index}: {target.name} {target.uuid}, driver {pynvml.nvmlSystemGetDriverVersion()}")
    probe.open([], [])  # releases the probe's own nvmlInit

    out: dict[str, Any] = {"gpu": target.name, "uuid": target.uuid}
    # read costs
    cost = {}
    for name in ("nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetPowerUsage"):
        try:
            cost[name] = per_call_us(getattr(pynvml, name), handle)
        except pynvml.NVMLError as exc:
            cost[name] = f"unsupported ({exc})"
    sensors, lines = open_gpu_sensors(target.uuid)
    for line in lines:
        if target.uuid in line.detail:
            print(f"  wattprint: {line.detail}")
    if sensors:
        cost["wattprint sensor.read()"] = per_call_us(sensors[0].read, n=200)
        for s in sensors:
            s.close()
    out["read_cost_us"] = cost
    print("read cost per call (µs):", {k: (round(v, 1) if isinstance(v, float) else v) for k, v in cost.items()})

    import warnings

    import wattprint

    warnings.simplefilter("ignore", getattr(wattprint, "WattprintWarning", UserWarning))  # location: not checked here
    try:
        tracker = wattprint.Tracker("gpu_check", interval=args.interval, gpus=target.uuid, store=False)
    except TypeError:  # API without store=
        tracker = wattprint.Tracker(interval=args.interval, gpus=target.uuid)

    total = args.seconds
    plan = [  # (window name, seconds, load?)
        ("idle-start", 0.1 * total, False),
        ("matmul-a", 0.3 * total, True),
        ("idle-gap", 0.15 * total, False),
        ("matmul-b", 0.3 * total, True),
        ("burst-0.3s", 0.3, True),
        ("idle-end", max(0.0, 0.15 * total - 0.3), False),
    ]
    matmul_for(torch, 0.5, args.size)  # CUDA context and kernels warm before measuring
    torch.cuda.synchronize()

    poller = RawPoller(pynvml, handle, args.hz)
    poller.start()
    time.sleep(0.3)

    run = tracker.start()
    spans = []
    for name, seconds, load in plan:
        with run.window(name) as w:
            t0 = time.perf_counter()
            if load:
                n = matmul_for(torch, seconds, args.size)
            else:
                time.sleep(seconds)
                n = 0
            t1 = time.perf_counter()
        spans.append((name, t0, t1, w, n))
    run = tracker.stop() or run
    time.sleep(0.3)
    poller.stop()

    # Fair comparison: from the first window's opening to the last one's closing, both the raw
    # poll and wattprint cover the same instants (start()/stop() themselves take time).
    t_first, t_last = spans[0][1], spans[-1][2]
    raw_all = poller.span(t_first, t_last)
    wp_sum = sum(
        (w.channels[channel].energy_j for _, _, _, w, _ in spans if channel in getattr(w, "channels", {})),
        0.0,
    )
    wp_total = run.channels[channel].energy_j if channel in run.channels else None
    method = run.channels[channel].method if channel in run.channels else "absent"
    ref = raw_all["counter_j"]
    integ = raw_all["power_integrated_j"]
    print(
        f"\nall windows end to end, {t_last - t_first:.2f} s, raw NVML polled at {args.hz:g} Hz"
        f" ({len(poller.samples)} samples); energy J:"
    )
    print(f"  NVML counter              {fmt(ref)}")
    print(f"  integrated power          {fmt(integ)}   {pct(integ, ref)}")
    print(f"  wattprint {str(method):<16}{fmt(wp_sum)}   {pct(wp_sum, ref)}")
    print(f"whole wattprint run ({run.duration_s:.2f} s, includes start/stop): {fmt(wp_total).strip()} J")
    out["run"] = {
        "windows_seconds": t_last - t_first,
        **raw_all,
        "wattprint_windows_j": wp_sum,
        "wattprint_run_j": wp_total,
        "run_seconds": run.duration_s,
        "method": str(method),
    }

    print("\nwindows:                 counter J   integrated J   wattprint J   matmuls")
    out["windows"] = []
    for name, t0, t1, w, n in spans:
        raw = poller.span(t0, t1)
        wj = w.channels[channel].energy_j if channel in getattr(w, "channels", {}) else None
        cj, ij = fmt(raw["counter_j"]), fmt(raw["power_integrated_j"])
        print(f"  {name:<12} {t1 - t0:6.2f}s {cj} {ij}   {fmt(wj)}   {n}")
        out["windows"].append({"name": name, "seconds": t1 - t0, **raw, "wattprint_j": wj, "matmuls": n})

    sampler = getattr(run, "_sampler", None) or getattr(tracker, "_sampler", None)
    cpu_s = getattr(sampler, "cpu_time_s", None)
    if cpu_s is not None and run.duration_s:
        per_s = cpu_s / run.duration_s
        print(
            f"\nsampler thread CPU: {cpu_s * 1e3:.1f} ms over {run.duration_s:.1f} s"
            f" = {per_s * 1e3:.2f} ms per tracked second"
        )
        out["sampler_cpu_ms_per_s"] = per_s * 1e3
    else:
        print("\nsampler thread CPU: not exposed by this wattprint version")
    for fault in getattr(run, "faults", []):
        print(f"fault: {fault}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    pynvml.nvmlShutdown()
    return 0


def fmt(j: float | None) -> str:
    return f"{j:12.1f}" if isinstance(j, (int, float)) else f"{'n/a':>12}"


def pct(x: float | None, ref: float | None) -> str:
    if not isinstance(x, (int, float)) or not isinstance(ref, (int, float)) or ref == 0:
        return ""
    return f"({(x - ref) / ref * 100:+.1f} % vs counter)"


if __name__ == "__main__":
    sys.exit(main())
