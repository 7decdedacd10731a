"""Two ranks made by torch.multiprocessing.spawn: no launcher variables, only the program's own
torch.distributed (gloo over tcp://). wattprint must still find the job, elect and merge.

argv: NODES_DIR DB PORT. Both ranks live on node 0 of NODES_DIR (tests/job_machines.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch.distributed as dist
import torch.multiprocessing as mp

import wattprint
from job_machines import apply_bump


def rank_main(rank: int, nodes: Path, db: str, port: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    node = nodes / "node-0"
    tracker = wattprint.Tracker("spawned", rapl_root=str(node / "rapl"), boot_id_file=str(node / "boot_id"),
                                store=db, country="FR", sensors="rapl", interval=0.05)
    tracker.start()
    dist.barrier()
    if rank == 0:
        apply_bump(nodes)
    dist.barrier()
    tracker.stop()
    dist.destroy_process_group()


if __name__ == "__main__":
    mp.spawn(rank_main, args=(Path(sys.argv[1]), sys.argv[2], sys.argv[3]), nprocs=2, join=True)
