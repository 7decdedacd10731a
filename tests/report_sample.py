"""Deterministic run dicts (the shape of ``Run.to_dict()``) for report tests and golden files.

Every number is fixed, and totals, emissions and windows are computed from the
timeline the way the run does it, so the dicts are self-consistent.
"""

from __future__ import annotations

from typing import Any

J_PER_KWH = 3_600_000.0
START = 1764000000.0  # 2025-11-24T16:00:00Z


def _channel(name: str, component: str, method: str, band: float, detail: str, in_total: bool = True) -> dict:
    return {"name": name, "component": component, "method": method, "band": band,
            "energy_j": 0.0, "in_total": in_total, "detail": detail, "emissions_g": 0.0}


def gpu_run() -> dict[str, Any]:
    """A 10-minute GPU training run in France (PUE 1.2), market factor, two windows, psys overlap."""
    interval = 60.0
    # watts per channel for each of the 10 intervals
    watts = {
        "gpu:GPU-8f2c1d3e-0000-4000-8000-00000000abcd": [310, 650, 655, 660, 640, 662, 658, 300, 645, 120],
        "cpu:package-0": [45, 80, 82, 81, 79, 83, 80, 60, 78, 30],
        "dram:package-0": [6, 9, 9, 9, 9, 9, 9, 7, 9, 5],
        "psys": [70, 100, 102, 101, 99, 103, 100, 80, 98, 45],
    }
    chans = {
        "gpu:GPU-8f2c1d3e-0000-4000-8000-00000000abcd": _channel(
            "gpu:GPU-8f2c1d3e-0000-4000-8000-00000000abcd", "gpu", "counter", 0.05,
            "NVIDIA H100 80GB HBM3 GPU-8f2c1d3e-0000-4000-8000-00000000abcd: total energy counter"),
        "cpu:package-0": _channel("cpu:package-0", "cpu", "counter", 0.05,
                                  "package-0; covers the CPU package only"),
        "dram:package-0": _channel("dram:package-0", "dram", "counter", 0.15,
                                   "package-0 dram; DRAM RAPL carries a constant offset"),
        "psys": _channel("psys", "psys", "counter", 0.1, "psys; whole platform, overlaps the packages",
                         in_total=False),
    }
    g, pue, market = 56.0, 1.2, 20.0
    timeline = []
    for i in range(10):
        e = {n: w[i] * interval for n, w in watts.items()}
        timeline.append({"t0_s": i * interval, "t1_s": (i + 1) * interval,
                         "start_utc": START + i * interval, "energy_j": e})
        for n, j in e.items():
            chans[n]["energy_j"] += j
    for c in chans.values():
        c["emissions_g"] = c["energy_j"] / J_PER_KWH * g * pue
    energy = sum(c["energy_j"] for c in chans.values() if c["in_total"])
    band = sum(c["energy_j"] * c["band"] for c in chans.values() if c["in_total"]) / energy

    def window(name: str, first: int, last: int, parent: str | None) -> dict[str, Any]:
        wc = {n: dict(c, energy_j=sum(watts[n][first:last + 1]) * interval) for n, c in chans.items()}
        we = sum(c["energy_j"] for c in wc.values() if c["in_total"])
        return {"name": name, "start_utc": START + first * interval, "duration_s": (last - first + 1) * interval,
                "energy_j": we, "energy_kwh": we / J_PER_KWH, "band": 0.05,
                "emissions_g": we / J_PER_KWH * g * pue, "market_emissions_g": None,
                "channels": wc, "offset_s": first * interval, "parent": parent}

    return {
        "name": "train-resnet50", "start_utc": START, "duration_s": 600.0, "energy_j": energy,
        "energy_kwh": energy / J_PER_KWH, "band": band, "emissions_g": energy / J_PER_KWH * g * pue,
        "market_emissions_g": energy / J_PER_KWH * market * pue, "channels": chans,
        "id": "a1b2c3d4e5f6", "status": "finished", "command": ["python", "train.py", "--epochs", "2"],
        "tags": {"model": "resnet50"}, "end_utc": START + 600.0, "exit_code": 0, "host": "gpu-node-01",
        "pid": 4242, "cpu_model": "AMD EPYC 9454 48-Core Processor", "wattprint_version": "0.1.0",
        "interval_s": interval,
        "intensity": {
            "g_per_kwh": g, "source": "Ember yearly electricity data (CC BY 4.0)", "location": "FR",
            "year": 2024, "fallback": False, "pue": pue, "pue_source": "flag --pue",
            "chain": ["argument: --country FR"], "warnings": [], "market_g_per_kwh": market,
            "market_source": "supplier contract 2025", "hourly": [], "live_source": None,
        },
        "sensors": [
            {"sensor": "rapl", "available": True, "detail": "cpu:package-0: counter (±5%)", "fix": ""},
            {"sensor": "nvml gpu0", "available": True, "detail": "GPU 0 NVIDIA H100: counter (±5%)", "fix": ""},
        ],
        "faults": [],
        "windows": [window("epoch-1", 1, 3, None), window("epoch-2", 4, 6, None),
                    window("eval", 8, 8, None), window("eval", 9, 9, None)],
        "attribution": {
            "pid": 4243, "processes_seen": 5, "energy_j": 0.9 * energy, "machine_energy_j": energy,
            "rest_of_machine_j": 0.1 * energy,
            "channels": {
                "cpu:package-0": {"energy_j": 0.8 * 41880.0, "share": 0.8, "method": "process-tree CPU time"},
                "gpu:GPU-8f2c1d3e-0000-4000-8000-00000000abcd": {
                    "energy_j": 318000.0, "share": 1.0, "method": "sole GPU user"},
            },
            "gpu_users": {}, "gpu_sole_user": {"gpu:GPU-8f2c1d3e-0000-4000-8000-00000000abcd": True},
        },
        "baseline": {
            "source": "wattprint baseline", "host": "gpu-node-01", "measured_utc": START - 86400.0,
            "duration_s": 60.0,
            "power_w": {"cpu:package-0": 30.0, "dram:package-0": 4.0, "psys": 50.0,
                        "gpu:GPU-8f2c1d3e-0000-4000-8000-00000000abcd": 70.0},
            "idle_energy_j": {"cpu:package-0": 18000.0, "dram:package-0": 2400.0, "psys": 30000.0,
                              "gpu:GPU-8f2c1d3e-0000-4000-8000-00000000abcd": 42000.0},
            "dynamic_energy_j": {}, "dynamic_total_j": energy - 62400.0, "notes": [],
        },
        "timeline": timeline,
    }


def cpu_fallback_run() -> dict[str, Any]:
    """A short CPU-only run with modelled RAM, no location (world-average fallback), a fault."""
    interval = 1.0
    watts = {"cpu:package-0": [20.0, 35.0, 34.0, 12.0], "ram": [3.0, 3.0, 3.0, 3.0]}
    chans = {
        "cpu:package-0": _channel("cpu:package-0", "cpu", "counter", 0.05, "package-0"),
        "ram": _channel("ram", "ram", "modelled", 0.4, "8 GiB x 0.375 W/GiB"),
    }
    g = 473.0
    timeline = []
    t = 0.0
    for i, dt in enumerate([1.0, 1.0, 1.0, 0.5]):
        e = {n: w[i] * dt for n, w in watts.items()}
        timeline.append({"t0_s": t, "t1_s": t + dt, "start_utc": START + t, "energy_j": e})
        t += dt
        for n, j in e.items():
            chans[n]["energy_j"] += j
    for c in chans.values():
        c["emissions_g"] = c["energy_j"] / J_PER_KWH * g
    energy = sum(c["energy_j"] for c in chans.values())
    band = sum(c["energy_j"] * c["band"] for c in chans.values()) / energy
    return {
        "name": "python bench.py", "start_utc": START, "duration_s": 3.5, "energy_j": energy,
        "energy_kwh": energy / J_PER_KWH, "band": band, "emissions_g": energy / J_PER_KWH * g,
        "market_emissions_g": None, "channels": chans, "id": "0f0e0d0c0b0a", "status": "finished",
        "command": ["python", "bench.py"], "tags": {}, "end_utc": START + 3.5, "exit_code": 0,
        "host": "laptop", "pid": 99, "cpu_model": "Intel(R) Core(TM) i7-1185G7 @ 3.00GHz",
        "wattprint_version": "0.1.0", "interval_s": interval,
        "intensity": {
            "g_per_kwh": g, "source": "Ember yearly electricity data (CC BY 4.0)", "location": "WORLD",
            "year": 2024, "fallback": True, "pue": 1.0,
            "pue_source": "personal machine (no data centre overhead)",
            "chain": ["no location set", "cloud probe: skipped", "world average"],
            "warnings": ["location unknown: world average used; set --country"],
            "market_g_per_kwh": None, "market_source": None, "hourly": [], "live_source": None,
        },
        "sensors": [{"sensor": "rapl", "available": True, "detail": "cpu:package-0: counter", "fix": ""},
                    {"sensor": "nvml", "available": False, "detail": "no NVIDIA driver",
                     "fix": "install the NVIDIA driver"}],
        "faults": [{"wall": START + 2.0, "source": "rapl", "message": "dram zone vanished"}],
        "windows": [],
        "timeline": timeline,
    }
