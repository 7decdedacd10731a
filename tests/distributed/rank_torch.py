"""One rank under torchrun with gloo: tracks with the Python API; wattprint exchanges over torch.distributed.

argv: NODES_DIR DB RANKS_PER_NODE. NODES_DIR holds one fake machine per simulated node
(``node-N/rapl`` powercap tree, ``node-N/boot_id``); rank r lives on node r // RANKS_PER_NODE.
Between two barriers rank 0 moves every node's counters by the amounts in ``NODES_DIR/bump``.
FAULT (environment): ``kill:R`` rank R dies (SIGKILL) before stop(); ``hang:R`` rank R never
reaches stop(). Each rank writes ``stopped-R`` (with the seconds its stop() took) when done.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import torch.distributed as dist

import wattprint
from job_machines import apply_bump

nodes, db, per_node = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
dist.init_process_group("gloo")
rank = dist.get_rank()
node = nodes / f"node-{rank // per_node}"
tracker = wattprint.Tracker("train", rapl_root=str(node / "rapl"), boot_id_file=str(node / "boot_id"), store=db,
                            country="FR", sensors="rapl", interval=0.05, flush_every_s=0.1,
                            job_timeout_s=float(os.environ.get("JOB_TIMEOUT", "5")))
tracker.start()
dist.barrier()
if rank == 0:
    apply_bump(nodes)
dist.barrier()
time.sleep(0.4)  # a flush or more after the counters moved: a rank killed now has stored them
fault, _, who = os.environ.get("FAULT", "").partition(":")
if who == str(rank) and fault == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
if who == str(rank) and fault == "hang":
    time.sleep(600)
t0 = time.monotonic()
run = tracker.stop()
(nodes / f"stopped-{rank}").write_text(f"{time.monotonic() - t0}\n")
if not fault:
    dist.destroy_process_group()
