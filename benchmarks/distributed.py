"""Distributed jobs: the time a job's election and merge add to Tracker.start() and stop().

For 2, 4 and 8 ranks on this machine, each rank times its own ``start()`` and ``stop()``
(benchmarks/distributed_rank.py, every rank writing to one SQLite store), in two modes:

* ``env``: ranks started by hand with torchrun's variables (the election by local rank, the
  merge by the last rank to finish, through the store);
* ``torch``: ``torchrun --nproc_per_node=N`` with gloo (the election and the gather over a
  dedicated gloo group).

The added time is the slowest rank's start+stop minus that of N plain trackers started the same
way (``job=off``: the same processes, store and CPU contention, no job); a single process's
figure is printed too. Each
configuration also checks the job view's total against the single tracker's on the same fake
machine (a powercap tree whose counters rank 0 moves by 9 J while every rank tracks).

    .venv/bin/python benchmarks/distributed.py [--ranks 2 4 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RANK = Path(__file__).resolve().parent / "distributed_rank.py"


def _tree(work: Path) -> None:
    for zone in ("intel-rapl:0", "intel-rapl:0/intel-rapl:0:0"):
        d = work / "rapl" / zone
        d.mkdir(parents=True)
        (d / "name").write_text("dram\n" if "/" in zone else "package-0\n")
        (d / "energy_uj").write_text("0\n")
        (d / "max_energy_range_uj").write_text("262143328850\n")


def _launch(mode: str, n: int, work: Path) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    env = {k: v for k, v in env.items() if not k.startswith(("WATTPRINT_JOB", "SLURM_", "RANK"))}
    env["WATTPRINT_DB"] = str(work / "db.sqlite")
    if mode == "torch":
        torchrun = str(Path(sys.executable).parent / "torchrun")
        subprocess.run([torchrun, "--standalone", f"--nproc_per_node={n}", str(RANK), mode, str(work)],
                       env=env, check=True, timeout=300, capture_output=True)
    else:
        procs = []
        for r in range(n):
            e = dict(env, RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(n), TORCHELASTIC_RUN_ID=work.name) \
                if mode == "env" else env
            procs.append(subprocess.Popen([sys.executable, str(RANK), mode, str(work), str(r), str(n)], env=e))
        for p in procs:
            assert p.wait(timeout=300) == 0
    return [json.loads((work / f"result-{r}.json").read_text()) for r in range(n)]


def _job_total(work: Path) -> float | None:
    sys.path.insert(0, str(REPO / "src"))
    from wattprint.store.sqlite import SqliteStore

    store = SqliteStore.open(work / "db.sqlite")
    views = [h for h in store.list_runs() if h.get("job") and h["job"].get("rank") is None]
    return views[0]["energy_j"] if views else None


def one(mode: str, n: int) -> tuple[float, float, float, float | None]:
    """(slowest start, slowest stop, slowest start+stop, job total) of one launch, in s and J."""
    work = Path(tempfile.mkdtemp(prefix=f"wp-dist-{mode}-{n}-", dir=os.environ.get("TMPDIR", "/var/tmp")))
    try:
        _tree(work)
        res = _launch(mode, n, work)
        total = _job_total(work) if mode != "alone" else sum(r["energy_j"] for r in res)
        return (max(r["start_s"] for r in res), max(r["stop_s"] for r in res),
                max(r["start_s"] + r["stop_s"] for r in res), total)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--modes", nargs="+", default=["env", "torch"])
    args = ap.parse_args()
    base = [one("alone", 1) for _ in range(args.repeat)]
    single = statistics.median(b[2] for b in base)
    print(f"single process (job=off): start+stop {single * 1e3:.1f} ms (median of {args.repeat}); "
          f"total {base[0][3]:.6f} J")
    print(f"{'mode':<6} {'ranks':>5} {'start ms':>9} {'stop ms':>9} {'start+stop ms':>14} {'added ms':>9} "
          f"{'job total J':>12} {'= single':>9}")
    plain = {n: statistics.median(one("alone", n)[2] for _ in range(args.repeat)) for n in args.ranks}
    for n in args.ranks:
        print(f"{'plain':<6} {n:>5} {'':>9} {'':>9} {plain[n] * 1e3:>14.1f} {'':>9} {'(job=off)':>12}")
    for mode in args.modes:
        for n in args.ranks:
            got = [one(mode, n) for _ in range(args.repeat)]
            s, t, both = (statistics.median(g[i] for g in got) for i in range(3))
            totals = {g[3] for g in got}
            same = all(x is not None and abs(x - base[0][3]) < 1e-6 for x in totals)  # type: ignore[operator]
            shown = ", ".join(f"{x:.6f}" if x is not None else "none" for x in sorted(totals, key=str))
            print(f"{mode:<6} {n:>5} {s * 1e3:>9.1f} {t * 1e3:>9.1f} {both * 1e3:>14.1f} "
                  f"{(both - plain[n]) * 1e3:>9.1f} {shown:>12} {'yes' if same else 'NO':>9}")


if __name__ == "__main__":
    main()
