#!/usr/bin/env python3
"""wattprint against CodeCarbon (and Zeus where a comparison applies), interleaved, one run.

Each tool gets its own fresh venv under benchmarks/.venvs (wattprint is built from this
checkout's last commit, or its working tree with --wattprint-source worktree). Every
figure comes from a fresh interpreter (benchmarks/peers_lib/child.py); repetitions
alternate the tools (A B, B A, ...) so that drifts of the host hit both alike. Medians
are reported with min-max, and the ratio peer / wattprint pair by pair.

    python benchmarks/peers.py --quick          # about 2-3 minutes once the venvs exist
    python benchmarks/peers.py                  # about 10 minutes
    python benchmarks/peers.py --fresh          # rebuild every venv (adds ~1.5 min)

What is measured, exactly: see the docstring of benchmarks/peers_lib/child.py and
benchmarks/README.md. Not part of the test suite; nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers_lib.common import git_head, machine, median, run_child, spread  # noqa: E402
from peers_lib.venvs import BENCH_DIR, REPO_ROOT, VenvInfo, ensure_venv  # noqa: E402

TRACKERS = ["wattprint", "codecarbon"]  # tools with a background sampler to compare
LIFECYCLE_TOOLS = ["wattprint", "codecarbon", "zeus"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def alternate(items: list[str], rep: int) -> list[str]:
    return list(items) if rep % 2 == 0 else list(reversed(items))


# ----------------------------------------------------------------------------- phases


def install_figures(venvs: dict[str, VenvInfo]) -> dict[str, dict]:
    empty = venvs["empty"]
    out = {}
    for tool, v in venvs.items():
        if tool == "empty":
            continue
        added = sorted(set(v.dists) - set(empty.dists))
        out[tool] = {
            "version": v.version,
            "install_s": v.install_s,
            "site_mb": (v.site_bytes - empty.site_bytes) / 1e6,
            "packages": len(added),
            "package_names": added,
        }
    return out


def calibrate(python: str, work_s: float) -> int:
    """Iterations of the fixed loop that take ``work_s`` seconds here (median of 3)."""
    n0 = 5_000_000
    walls = [run_child(python, {"mode": "calibrate", "n": n0})["wall_s"] for _ in range(3)]
    per_s = n0 / median(walls)
    return int(per_s * work_s)


def lifecycle(
    venvs: dict[str, VenvInfo], tools: list[str], reps: int, job_n: int, extra: dict
) -> dict:
    samples: dict[str, list[dict]] = {t: [] for t in tools}
    for rep in range(reps):
        for tool in alternate(tools, rep):
            spec = {"mode": "lifecycle", "tool": tool, "job_n": job_n, "interval": 1.0, **extra}
            if tool == "wattprint":
                spec["country"] = "US"
            samples[tool].append(run_child(venvs[tool].python, spec))
        log(f"  lifecycle rep {rep + 1}/{reps} done")
    return samples


def overhead(
    venvs: dict[str, VenvInfo],
    tools: list[str],
    intervals: list[float],
    reps: int,
    n: int,
    idle_s: float,
    extra: dict,
) -> dict:
    """Per interval and tool: tracked and baseline runs of the busy loop, and tracked runs
    of an idle (sleeping) main thread of ``idle_s`` seconds."""
    out: dict[str, dict[str, dict[str, list[dict]]]] = {}
    for interval in intervals:
        key = f"{interval:g}"
        out[key] = {t: {"tracked": [], "baseline": [], "idle": []} for t in tools}
        for rep in range(reps):
            for tool in alternate(tools, rep):
                kinds = ["tracked", "baseline"] if rep % 2 == 0 else ["baseline", "tracked"]
                for kind in [*kinds, "idle"]:
                    spec = {
                        "mode": "overhead",
                        "tool": tool,
                        "n": n,
                        "interval": interval,
                        "tracked": kind != "baseline",
                        "idle_s": idle_s if kind == "idle" else 0,
                        **extra,
                    }
                    if tool == "wattprint":
                        spec["country"] = "US"
                    out[key][tool][kind].append(run_child(venvs[tool].python, spec))
            log(f"  overhead interval {key} s rep {rep + 1}/{reps} done")
    return out


# ----------------------------------------------------------------------------- report


def fmt(x: float | None, unit: str = "", digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if abs(x) >= 100:
        s = f"{x:.0f}"
    elif abs(x) >= 10:
        s = f"{x:.1f}"
    else:
        s = f"{x:.{digits}g}"
    return s + unit


def cell(xs: list[float | None], scale: float = 1.0, unit: str = "") -> str:
    m = median(xs)
    sp = spread(xs)
    if m is None or sp is None:
        return "n/a"
    return f"{fmt(m * scale, unit)} ({fmt(sp[0] * scale)}–{fmt(sp[1] * scale)})"


def ratio(peer: float | None, ours: float | None) -> str:
    if peer is None or ours is None or ours <= 0:
        return "n/a"
    return f"{peer / ours:.1f}×"


def report(res: dict) -> str:
    lines: list[str] = []
    lc = res["lifecycle"]
    tools = [t for t in LIFECYCLE_TOOLS if t in lc]
    peers = [t for t in tools if t != "wattprint"]

    def col(tool: str, key: str) -> list[float | None]:
        return [s.get(key) for s in lc[tool]]

    n_l = len(lc["wattprint"])
    lines.append(f"### Start-up, short job, memory (fresh interpreter each, n = {n_l} per tool)")
    lines.append("")
    head = "| | wattprint |" + "".join(f" {p} | {p} / wattprint |" for p in peers)
    lines.append(head)
    lines.append("|---|---|" + "---|---|" * len(peers))
    rows = [
        ("import of the tracking API", "import_s", 1000, " ms"),
        ("modules loaded by that import", "modules_imported", 1, ""),
        ("constructor", "construct_s", 1000, " ms"),
        ("start() call → return", "start_s", 1000, " ms"),
        ("start() → first measurement", "first_s", 1000, " ms"),
        ("stop()", "stop_s", 1000, " ms"),
        ("wall added to a short job (construct + start + stop)", "added_s", 1000, " ms"),
        ("RSS increase after the import", "import_rss_now_mb", 1, " MB"),
        ("peak RSS increase (ru_maxrss), whole lifecycle", "peak_rss_mb", 1, " MB"),
        ("modules loaded by the end", "modules_total", 1, ""),
    ]
    for label, key, scale, unit in rows:
        ours = median(col("wattprint", key))
        row = f"| {label} | {cell(col('wattprint', key), scale, unit)} |"
        for p in peers:
            row += f" {cell(col(p, key), scale, unit)} | {ratio(median(col(p, key)), ours)} |"
        lines.append(row)
    lines.append("")

    ov = res["overhead"]
    reps = len(next(iter(ov.values()))["wattprint"]["tracked"])
    work_s = res["params"]["work_s"]
    lines.append(
        f"### Steady state on a CPU-bound pure-Python loop of {work_s:g} s "
        f"(n = {reps} tracked + {reps} baseline runs per tool and interval)"
    )
    lines.append("")
    lines.append(
        "| interval | figure | wattprint | codecarbon | codecarbon / wattprint |"
    )
    lines.append("|---|---|---|---|---|")
    for key, per in ov.items():
        def tracked(tool: str, k: str, per=per) -> list[float | None]:
            return [s.get(k) for s in per[tool]["tracked"]]

        def base(tool: str, k: str, per=per) -> list[float | None]:
            return [s.get(k) for s in per[tool]["baseline"]]

        cpu_w = median(tracked("wattprint", "other_cpu_ms_per_s"))
        cpu_c = median(tracked("codecarbon", "other_cpu_ms_per_s"))
        lines.append(
            f"| {key} s | tracker CPU per tracked second | "
            f"{cell(tracked('wattprint', 'other_cpu_ms_per_s'), 1, ' ms/s')} | "
            f"{cell(tracked('codecarbon', 'other_cpu_ms_per_s'), 1, ' ms/s')} | "
            f"{ratio(cpu_c, cpu_w)} |"
        )
        def idle(tool: str, k: str, per=per) -> list[float | None]:
            return [s.get(k) for s in per[tool].get("idle", [])]

        iw = median(idle("wattprint", "other_cpu_ms_per_s"))
        ic = median(idle("codecarbon", "other_cpu_ms_per_s"))
        lines.append(
            f"| {key} s | tracker CPU per tracked second, main thread sleeping | "
            f"{cell(idle('wattprint', 'other_cpu_ms_per_s'), 1, ' ms/s')} | "
            f"{cell(idle('codecarbon', 'other_cpu_ms_per_s'), 1, ' ms/s')} | "
            f"{ratio(ic, iw)} |"
        )
        slow = {}
        for t in TRACKERS:
            # Paired: each tracked run against the baseline run next to it in time, which
            # cancels most of the host's drift; median of those ratios.
            pairs = zip(tracked(t, "loop_wall_s"), base(t, "loop_wall_s"))
            ratios = [(a / b - 1) * 100 for a, b in pairs if a and b]
            slow[t] = (median(ratios), spread(ratios))
        lines.append(
            f"| {key} s | workload slowdown (median of paired tracked / baseline − 1) | "
            + " | ".join(
                f"{fmt(m, ' %', 2)} ({fmt(sp[0], '', 2)}–{fmt(sp[1], '', 2)})" if sp else "n/a"
                for m, sp in (slow["wattprint"], slow["codecarbon"])
            )
            + " | |"
        )
        cov = {
            t: [(s.get("result") or {}).get("coverage") for s in per[t]["tracked"]]
            for t in TRACKERS
        }
        lines.append(
            f"| {key} s | wall time covered by energy intervals | "
            f"{cell(cov['wattprint'], 100, ' %')} | {cell(cov['codecarbon'], 100, ' %')} | |"
        )
    lines.append("")

    inst = res["install"]
    lines.append("### Install (fresh venv per tool; sizes are site-packages minus an empty venv's)")
    lines.append("")
    lines.append("| | version | packages added | size added | pip install time |")
    lines.append("|---|---|---|---|---|")
    for t, v in inst.items():
        lines.append(
            f"| {t} | {v['version']} | {v['packages']} | {v['site_mb']:.1f} MB | "
            f"{v['install_s']:.0f} s |"
        )
    lines.append("")

    # targets
    imp = median(col("codecarbon", "import_s")) / median(col("wattprint", "import_s"))
    first_w, first_c = median(col("wattprint", "first_s")), median(col("codecarbon", "first_s"))
    first = first_c / first_w if first_w and first_c else None
    lines.append("### Targets (issue 7)")
    lines.append("")
    lines.append("| target | measured | met |")
    lines.append("|---|---|---|")
    lines.append(f"| import ≥ 4× faster than CodeCarbon's | {imp:.1f}× | {'yes' if imp >= 4 else 'NO'} |")
    if first is not None:
        lines.append(
            f"| start → first measurement ≥ 20× faster | {first:.0f}× | "
            f"{'yes' if first >= 20 else 'NO'} |"
        )
    for key, per in ov.items():
        w = median([s["other_cpu_ms_per_s"] for s in per["wattprint"]["tracked"]])
        c = median([s["other_cpu_ms_per_s"] for s in per["codecarbon"]["tracked"]])
        r = c / w if w and w > 0 else float("inf")
        lines.append(
            f"| tracker CPU per tracked second ≥ 10× lower at {key} s | {r:.1f}× | "
            f"{'yes' if r >= 10 else 'NO'} |"
        )
    covs = [
        (s.get("result") or {}).get("coverage")
        for per in ov.values()
        for s in per["wattprint"]["tracked"]
    ]
    covs = [c for c in covs if c is not None]
    if covs:
        lo = min(covs)
        lines.append(
            f"| 100 % of wall time covered | min {lo * 100:.4f} % over {len(covs)} runs | "
            f"{'yes' if lo >= 0.99999 else 'NO'} |"
        )
    lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter repetitions (~2-3 min)")
    ap.add_argument("--reps", type=int, help="overhead repetitions per tool and interval")
    ap.add_argument("--lifecycle-reps", type=int, help="fresh-process start-up repetitions")
    ap.add_argument("--work-s", type=float, help="length of the CPU-bound workload, seconds")
    ap.add_argument("--fresh", action="store_true", help="rebuild the peers' venvs too")
    ap.add_argument(
        "--wattprint-source",
        choices=["head", "worktree"],
        default="head",
        help="build wattprint from the last commit (default) or the working tree",
    )
    ap.add_argument("--no-zeus", action="store_true", help="leave Zeus out")
    ap.add_argument(
        "--sensors",
        choices=["host", "fake-rapl"],
        default="host",
        help="host: what each tool finds here (default); fake-rapl: every tool reads a "
        "simulated RAPL tree with still counters (CodeCarbon and Zeus re-pointed by patching "
        "their module attributes), to compare the RAPL code paths on a host without RAPL",
    )
    ap.add_argument("--json", type=Path, help="where to write all samples (default: benchmarks/out/)")
    ap.add_argument("--report", type=Path, help="only print the tables of a saved samples file")
    args = ap.parse_args(argv)
    if args.report:
        res = json.loads(args.report.read_text())
        print(f"## peers.py — {res['started_utc']} → {res['finished_utc']}\n")
        print(f"wattprint: {res['wattprint_commit']}; command: `{res['command']}`; "
              f"sensors: {res['params'].get('sensors', 'host')}\n")
        print(report(res))
        return 0

    work_s = args.work_s or (3.0 if args.quick else 8.0)
    reps = args.reps or (3 if args.quick else 5)
    lreps = args.lifecycle_reps or (5 if args.quick else 11)
    lifecycle_tools = [t for t in LIFECYCLE_TOOLS if not (args.no_zeus and t == "zeus")]

    started = dt.datetime.now(dt.timezone.utc)
    log("venvs:")
    venvs = {}
    for tool in ["empty", *lifecycle_tools]:
        venvs[tool] = ensure_venv(
            tool, fresh=args.fresh, wattprint_source=args.wattprint_source, log=log
        )
    extra: dict = {}
    if args.sensors == "fake-rapl":
        import tempfile

        from peers_lib.fakerapl import FakeRapl

        tree = Path(tempfile.mkdtemp(prefix="fake-powercap-")) / "powercap"
        FakeRapl.build(
            tree,
            package_range_j=262143.328850,
            package_start_j=1000.0,
            dram_range_j=65712.999613,
            dram_start_j=100.0,
            package_max_w=200.0,
        ).close()
        extra["rapl_root"] = str(tree)
    log("calibrating the workload ...")
    n = calibrate(venvs["empty"].python, work_s)
    job_n = n * 0.5 / work_s
    log(f"lifecycle ({lreps} reps) ...")
    lc = lifecycle(venvs, lifecycle_tools, lreps, int(job_n), extra)
    log(f"overhead ({reps} reps, {work_s:g} s loop) ...")
    ov = overhead(venvs, TRACKERS, [1.0, 0.1], reps, n, idle_s=min(work_s, 3.0), extra=extra)
    finished = dt.datetime.now(dt.timezone.utc)
    res = {
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": finished.isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/peers.py", *(argv or sys.argv[1:])]),
        "wattprint_commit": git_head(REPO_ROOT),
        "machine": machine(),
        "params": {"work_s": work_s, "loop_n": n, "job_n": int(job_n), "reps": reps,
                   "lifecycle_reps": lreps, "wattprint_source": args.wattprint_source,
                   "sensors": args.sensors},
        "install": install_figures(venvs),
        "lifecycle": lc,
        "overhead": ov,
    }
    out = args.json or BENCH_DIR / "out" / f"peers-{started:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, default=str))
    print(f"## peers.py — {res['started_utc']} → {res['finished_utc']}\n")
    print(f"wattprint: {res['wattprint_commit']}; command: `{res['command']}`; "
          f"sensors: {args.sensors}\n")
    print(report(res))
    log(f"samples written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
