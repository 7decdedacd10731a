"""One rank of a job whose program runs a communicator: torch.distributed (gloo, under torchrun)
or MPI (mpi4py, under mpirun). wattprint finds it and exchanges over it at start and stop.

argv: MODE (torch | mpi) NODES_DIR DB RANKS_PER_NODE. NODES_DIR holds one fake machine per
simulated node (tests/job_machines.py); rank r lives on node r // RANKS_PER_NODE. Between two
barriers rank 0 moves every node's counters. FAULT (environment): ``kill:R`` rank R dies
(SIGKILL) before stop(); ``hang:R`` rank R never reaches stop(). Each rank that stops writes
``stopped-R`` with the seconds its stop() took.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import wattprint
from job_machines import apply_bump, fake_nvml

mode, nodes, db, per_node = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
if mode == "torch":
    import torch.distributed as dist

    dist.init_process_group("gloo")
    rank, barrier = dist.get_rank(), dist.barrier
else:
    from mpi4py import MPI

    rank, barrier = MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Barrier
node = nodes / f"node-{rank // per_node}"
gpus = int(os.environ.get("FAKE_GPUS", "0"))  # GPUs per node, every rank of the node seeing all of them
if gpus:
    sys.modules["pynvml"] = fake_nvml(nodes, rank // per_node, gpus)  # type: ignore[assignment]
tracker = wattprint.Tracker("train", rapl_root=str(node / "rapl"), boot_id_file=str(node / "boot_id"), store=db,
                            country="FR", sensors="rapl,nvml" if gpus else "rapl", interval=0.05,
                            flush_every_s=0.1,
                            job_timeout_s=float(os.environ.get("JOB_TIMEOUT", "5")))
tracker.start()
barrier()
if rank == 0:
    apply_bump(nodes)
barrier()
time.sleep(0.4)  # a flush or more after the counters moved: a rank killed now has stored them
fault, _, who = os.environ.get("FAULT", "").partition(":")
if who == str(rank) and fault == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
if who == str(rank) and fault == "hang":
    time.sleep(600)
t0 = time.monotonic()
tracker.stop()
(nodes / f"stopped-{rank}").write_text(f"{time.monotonic() - t0}\n")
if mode == "torch" and not fault:
    dist.destroy_process_group()
