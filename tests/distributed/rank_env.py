"""One rank of a job started by hand, with no communicator: the launcher's variables alone.

argv: NODES_DIR DB NODE (see tests/job_machines.py). Tracks with the Python API against
node NODE's fake powercap tree and boot id, writes ``started-RANK``, waits for ``go`` (the
test moves the counters in between), stops. ``RANK_DIES=R``: rank R dies (SIGKILL) instead.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import wattprint

nodes, db, node = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
rank = os.environ.get("RANK") or os.environ.get("OMPI_COMM_WORLD_RANK") or os.environ.get("SLURM_PROCID") or "0"
tracker = wattprint.Tracker("job", rapl_root=str(nodes / f"node-{node}" / "rapl"), store=db, country="FR",
                            boot_id_file=str(nodes / f"node-{node}" / "boot_id"), sensors="rapl", interval=0.05,
                            flush_every_s=0.1)
tracker.start()
(nodes / f"started-{rank}").touch()
deadline = time.monotonic() + 60
while not (nodes / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.4)  # a flush or more after the counters moved
if os.environ.get("RANK_DIES") == rank:
    os.kill(os.getpid(), signal.SIGKILL)
tracker.stop()
