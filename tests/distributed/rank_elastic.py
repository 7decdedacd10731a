"""One rank of a torchrun job that fails once and is restarted (``--max-restarts=1``).

argv: NODES_DIR DB. One fake node (tests/job_machines.py). First start (TORCHELASTIC_RESTART_COUNT
0): rank 0 moves the counters half way, then rank 1 fails (exit 1) and the agent stops rank 0
(SIGTERM: its run is stored as it was). Second start: rank 0 moves the counters the rest of the
way, every rank stops normally and rank 0 merges the job, both starts included.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch.distributed as dist

import wattprint
from job_machines import apply_bump

nodes, db = Path(sys.argv[1]), sys.argv[2]
restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
dist.init_process_group("gloo")
rank = dist.get_rank()
node = nodes / "node-0"
tracker = wattprint.Tracker("elastic", rapl_root=str(node / "rapl"), boot_id_file=str(node / "boot_id"), store=db,
                            country="FR", sensors="rapl", interval=0.05, flush_every_s=0.1, job_timeout_s=10)
tracker.start()
dist.barrier()
if rank == 0:
    if restart == 0:
        for path, value in json.loads((nodes / "bump").read_text()).items():
            (nodes / path).write_text(f"{value // 2}\n")
    else:
        apply_bump(nodes)
dist.barrier()
time.sleep(0.4)  # a flush or more after the counters moved
if restart == 0:
    (nodes / f"first-{rank}").touch()
    if rank == 1:
        sys.exit(1)  # the failure torchrun restarts the group for
    time.sleep(120)  # until the agent stops this rank
tracker.stop()
(nodes / f"stopped-{rank}").touch()
dist.destroy_process_group()
