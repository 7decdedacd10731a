#!/usr/bin/env python3
"""Reported energy against the truth, on a simulated RAPL tree with a known power profile.

A fake powercap tree (benchmarks/peers_lib/fakerapl.py) is driven in real time through
power steps, with counter ranges small enough to wrap during the run. The tracker runs
in another process (a fresh interpreter in the tool's venv), is started before the
profile begins and stopped after it ends, while the counters stand still; so every
tool that differences its counters at start and stop, and unwraps them correctly, must
report exactly the energy the profile wrote: the truth is the sum of the integer
microjoule steps written to energy_uj.

    python benchmarks/accuracy.py            # 3 reps per configuration (~2.5 min)
    python benchmarks/accuracy.py --quick    # 1 rep (~1 min)

Pointing the tools at the tree:
* wattprint: ``Tracker(rapl_root=<tree>)``, a public option.
* CodeCarbon 3.3.2: no public option; its tracker always scans /sys/class/powercap.
  The child re-points two module attributes (``codecarbon.core.cpu.is_rapl_available``
  and ``codecarbon.external.hardware.IntelRAPL``) at ``<tree>/intel-rapl/subsystem``,
  the same layout as the real path. Labelled "(patched)" in the output.
* Zeus 0.16: no public option either; the RAPL directory is a module constant, which the
  child re-points (``zeus.device.cpu.rapl.RAPL_DIR = <tree>/intel-rapl``) before
  ``ZeusMonitor(cpu_indices=[0], gpu_indices=[])``. Zeus counts wraps in a separate
  polling process. Zeus has no sampling interval, so it runs once per case. "(patched)".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers_lib.common import CHILD, child_env, git_head, machine, median  # noqa: E402
from peers_lib.fakerapl import FakeRapl, Profile  # noqa: E402
from peers_lib.venvs import BENCH_DIR, REPO_ROOT, ensure_venv  # noqa: E402

# package: 20 W, 80 W, 5 W; dram: 3 W, 6 W, 2 W. Package range 150 J starting at 120 J:
# wraps 1.5 s in and again ~3.75 s in. DRAM range 60 J starting at 55 J: wraps ~1.7 s in.
PROFILE = Profile(
    [
        (2.0, {"package-0": 20.0, "dram": 3.0}),
        (2.0, {"package-0": 80.0, "dram": 6.0}),
        (1.0, {"package-0": 5.0, "dram": 2.0}),
    ]
)
TREE = {  # wrap stress: ranges shrunk so that both counters wrap during the profile
    "package_range_j": 150.0,
    "package_start_j": 120.0,
    "dram_range_j": 60.0,
    "dram_start_j": 55.0,
    "package_max_w": 100.0,  # constraint_0_max_power_uw, as real package zones have
}
# Real ranges (a 32-bit counter of 61 µJ units ≈ 262 kJ; DRAM units 15.3 µJ ≈ 65.7 kJ),
# starting near the top so that each counter wraps once inside the window below.
TREE_REAL = {
    "package_range_j": 262143.328850,
    "package_start_j": 262143.328850 - 60.0,
    "dram_range_j": 65712.999613,
    "dram_start_j": 65712.999613 - 8.0,
    "package_max_w": 100.0,
}
SETTLE_S = 0.5  # counters stand still this long before and after the profile
WINDOW_S = (1.0, 4.5)  # a window (CodeCarbon: a task) opens and closes this far into it


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _cmd(proc: subprocess.Popen, cmd: str) -> tuple[float, float]:
    """Send a command to the child and wait for its OK; return (sent, acknowledged) times."""
    assert proc.stdin is not None and proc.stdout is not None
    t_send = time.monotonic()
    proc.stdin.write(cmd + "\n")
    proc.stdin.flush()
    ack = proc.stdout.readline()
    t_ok = time.monotonic()
    if ack.strip() != "OK":
        raise RuntimeError(f"child answered {ack!r} to {cmd!r}")
    return t_send, t_ok


def one_run(python: str, tool: str, interval: float | None, window: bool) -> dict:
    """One tracker run over the profile; with ``window``, real counter ranges and a
    window (CodeCarbon: a task) inside it; without, the shrunk wrap-stress ranges."""
    tmp = Path(tempfile.mkdtemp(prefix="fake-powercap-"))
    root = tmp / "powercap"
    rapl = FakeRapl.build(root, **(TREE_REAL if window else TREE))
    spec = {"mode": "accuracy", "tool": tool, "interval": interval, "rapl_root": str(root)}
    if tool == "wattprint":
        spec["country"] = "US"
    proc = subprocess.Popen(
        [python, str(CHILD), json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=str(tmp),
    )
    edges: dict[str, tuple[float, float]] = {}
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        if line.strip() != "READY":
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"{tool} did not start: {line!r}\n{err[-2000:]}")
        time.sleep(SETTLE_S)  # counters stand still: the start reading is surely before
        played: dict = {}
        writer = threading.Thread(target=lambda: played.update(rapl.play(PROFILE)))
        writer.start()
        if window:
            while not hasattr(rapl, "t_start"):
                time.sleep(0.0005)
            for name, at in (("open", WINDOW_S[0]), ("close", WINDOW_S[1])):
                time.sleep(max(0.0, rapl.t_start + at - time.monotonic()))
                edges[name] = _cmd(proc, name)
        writer.join()
        time.sleep(SETTLE_S)  # counters stand still again: the stop reading is surely after
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        rapl.close()
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{tool} failed (rc={proc.returncode}):\n{err[-2000:]}")
    child = json.loads(lines[-1])
    run = {
        "truth_j": rapl.truth_j(),
        "wraps": {n: z.wraps for n, z in rapl.zones.items()},
        "played": played,
        "result": child["result"],
        "stderr_tail": err.strip().splitlines()[-3:],
    }
    if window:
        (so, oo), (sc, oc) = edges["open"], edges["close"]
        run["window"] = child["windows"][0] if child["windows"] else {}
        run["window_truth_j"] = {
            zone: (
                rapl.written_at(sc, zone, before=True) - rapl.written_at(oo, zone, before=False),
                rapl.written_at(oc, zone, before=False) - rapl.written_at(so, zone, before=True),
            )
            for zone in rapl.zones
        }
        run["edge_s"] = {"open": oo - so, "close": oc - sc}
    shutil.rmtree(tmp, ignore_errors=True)
    return run


def reported(tool: str, res: dict) -> dict[str, float | None]:
    """Map a tool's result onto the two zones: package and dram (None when not reported)."""
    ch = res.get("channels") or {}
    if tool == "wattprint":
        pkg = (ch.get("cpu:package-0") or {}).get("energy_j")
        dram = (ch.get("dram:package-0") or {}).get("energy_j")
        return {"package-0": pkg, "dram": dram}
    if tool == "zeus":
        return {
            "package-0": (ch.get("cpu") or {}).get("energy_j"),
            "dram": (ch.get("dram") or {}).get("energy_j"),
        }
    # CodeCarbon: cpu_energy is the package zone(s); DRAM sub-zones are skipped and RAM
    # comes from its model instead, so there is no RAPL DRAM figure to compare.
    return {"package-0": (ch.get("cpu") or {}).get("energy_j"), "dram": None}


def reported_window(tool: str, win: dict) -> dict[str, float | None]:
    if tool == "wattprint":
        return {"package-0": win.get("cpu:package-0"), "dram": win.get("dram:package-0")}
    return {"package-0": win.get("cpu"), "dram": win.get("dram")}


def fmt_err(rep_v: list[float], tru: list[float]) -> tuple[str, str]:
    errs = [v - t for v, t in zip(rep_v, tru)]
    worst = max(errs, key=abs)
    rel = worst / median(tru) * 100
    return (
        f"{median(rep_v):.3f} / {median(tru):.3f}",
        f"median {median(errs):+.4f} J, worst {worst:+.4f} J ({rel:+.3f} %)",
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--quick", action="store_true", help="one repetition per configuration")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--wattprint-source", choices=["head", "worktree"], default="head")
    ap.add_argument("--no-codecarbon", action="store_true")
    ap.add_argument("--no-zeus", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    reps = args.reps or (1 if args.quick else 2)

    started = dt.datetime.now(dt.timezone.utc)
    tools = ["wattprint"] + ([] if args.no_codecarbon else ["codecarbon"])
    tools += [] if args.no_zeus else ["zeus"]
    venvs = {t: ensure_venv(t, wattprint_source=args.wattprint_source, log=log) for t in tools}
    # (interval, window): interval None = the tool's default (wattprint 1 s, CodeCarbon 15 s)
    variants = [(1.0, False), (0.1, False), (None, False), (1.0, True), (0.1, True), (None, True)]
    # Zeus has no sampling interval: one configuration per case ("default").
    configs = [(t, iv, w) for iv, w in variants for t in tools if t != "zeus" or iv is None]
    runs: dict[str, list[dict]] = {}
    for rep in range(reps):
        order = configs if rep % 2 == 0 else list(reversed(configs))
        for tool, iv, win in order:
            key = f"{tool} @ {'default' if iv is None else f'{iv:g} s'}" + (
                " + window" if win else ""
            )
            runs.setdefault(key, []).append(one_run(venvs[tool].python, tool, iv, win))
            log(f"  {key}: rep {rep + 1}/{reps}")

    exact = PROFILE.exact_joules()
    lines = [
        f"## accuracy.py — {started.isoformat(timespec='seconds')}, {reps} rep(s) each",
        "",
        f"wattprint: {git_head(REPO_ROOT)}",
        "",
        "Profile: package-0 20 W × 2 s, 80 W × 2 s, 5 W × 1 s (= "
        f"{exact['package-0']:g} J); dram 3 W, 6 W, 2 W (= {exact['dram']:g} J). "
        f"Ranges: package {TREE['package_range_j']:g} J from {TREE['package_start_j']:g} J, "
        f"dram {TREE['dram_range_j']:g} J from {TREE['dram_start_j']:g} J "
        "(so both counters wrap during the profile).",
        "",
        "### Whole run (counters still at start and stop, so the truth is exact)",
        "",
        "Without a window the counter ranges are shrunk (wrap stress); with a window they are "
        "real-sized (262 kJ / 65.7 kJ) and start just below the top, so each wraps once.",
        "",
        "| configuration | package: reported / truth (J) | package error | "
        "dram: reported / truth (J) | dram error | wraps written (pkg, dram) |",
        "|---|---|---|---|---|---|",
    ]
    for key, rs in runs.items():
        tool = key.split(" @ ")[0]
        label = key + (" (patched)" if tool in ("codecarbon", "zeus") else "")
        cells = []
        for zone in ("package-0", "dram"):
            rep_v = [reported(tool, r["result"])[zone] for r in rs]
            tru = [r["truth_j"][zone] for r in rs]
            if any(v is None for v in rep_v):
                cells += ["not reported (RAM from a model)" if tool == "codecarbon" else "n/a", ""]
                continue
            cells += list(fmt_err(rep_v, tru))
        wr = rs[0]["wraps"]
        lines.append(
            f"| {label} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} | "
            f"{wr['package-0']}, {wr['dram']} |"
        )
    lines += [
        "",
        f"### Window (CodeCarbon: task) from {WINDOW_S[0]:g} s to {WINDOW_S[1]:g} s into "
        "the profile, counters running",
        "",
        "The truth is bracketed by when the command was sent and when the child "
        "acknowledged it (the tool read the counters somewhere in between).",
        "",
        "| configuration | package reported (J) | package truth bracket (J) | inside | "
        "dram reported (J) | dram truth bracket (J) | inside | edge round trip (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, rs in runs.items():
        if "window" not in key:
            continue
        tool = key.split(" @ ")[0]
        for r in rs:
            rep = reported_window(tool, r.get("window", {}))
            cells = []
            for zone in ("package-0", "dram"):
                lo, hi = r["window_truth_j"][zone]
                v = rep[zone]
                if v is None:
                    cells += ["not reported", f"{lo:.3f} … {hi:.3f}", ""]
                    continue
                inside = lo - 1e-6 <= v <= hi + 1e-6
                cells += [f"{v:.3f}", f"{lo:.3f} … {hi:.3f}", "yes" if inside else "**no**"]
            edge = r["edge_s"]
            lines.append(
                f"| {key} | " + " | ".join(cells)
                + f" | {edge['open'] * 1000:.1f} / {edge['close'] * 1000:.1f} |"
            )
    lines.append("")
    notes = sorted({f for rs in runs.values() for r in rs for f in r["result"].get("faults", [])})
    if notes:
        lines.append("Faults recorded by wattprint: " + "; ".join(notes[:5]))
        lines.append("")
    out = args.json or BENCH_DIR / "out" / f"accuracy-{started:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"machine": machine(), "tree": TREE, "runs": runs}, indent=1, default=str)
    )
    print("\n".join(lines))
    log(f"samples written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
