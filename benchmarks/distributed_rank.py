"""One rank for benchmarks/distributed.py: times Tracker.start() and stop() inside a job.

argv: MODE (torch | env | alone) WORK_DIR RANK WORLD. Ranks meet at a barrier before start()
and before stop() (torch.distributed's in torch mode, files otherwise), so the times are
wattprint's own and not the launcher's skew. Rank 0 moves the fake counters while all track.
Writes WORK_DIR/result-RANK.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import wattprint

mode, work = sys.argv[1], Path(sys.argv[2])
if mode == "torch":
    import torch.distributed as dist

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
else:
    rank, world = int(sys.argv[3]), int(sys.argv[4])


def barrier(name: str) -> None:
    if mode == "torch":
        dist.barrier()
        return
    (work / f"{name}-{rank}").touch()
    while not all((work / f"{name}-{r}").exists() for r in range(world)):
        time.sleep(0.001)


tracker = wattprint.Tracker("bench", rapl_root=str(work / "rapl"), store=str(work / "db.sqlite"), country="FR",
                            sensors="rapl", job="off" if mode == "alone" else None, probe_cloud=False)
barrier("a")
t0 = time.perf_counter()
tracker.start()
t1 = time.perf_counter()
barrier("b")
if rank == 0:
    for zone, uj in (("intel-rapl:0", 7_000_000), ("intel-rapl:0/intel-rapl:0:0", 2_000_000)):
        with open(work / "rapl" / zone / "energy_uj", "r+", encoding="ascii") as fh:
            fh.write(f"{uj}\n")
barrier("c")
t2 = time.perf_counter()
run = tracker.stop()
t3 = time.perf_counter()
(work / f"result-{rank}.json").write_text(json.dumps(
    {"rank": rank, "start_s": t1 - t0, "stop_s": t3 - t2, "energy_j": run.energy_j, "pid": os.getpid()}))
