"""A Slurm batch job's one process, requeued by the test: tracks, waits, stops.

argv: NODES_DIR DB. Writes ``started-<restart>`` once tracking, stops after ``go-<restart>``
appears, then writes ``stopped-<restart>``. Slurm's SIGTERM (scontrol requeue, scancel, the
time limit) ends it earlier: wattprint stores the run as preempted before the process dies.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import wattprint

nodes, db = Path(sys.argv[1]), sys.argv[2]
restart = os.environ.get("SLURM_RESTART_COUNT", "0")
tracker = wattprint.Tracker("batch", rapl_root=str(nodes / "node-0" / "rapl"), store=db, country="FR",
                            boot_id_file=str(nodes / "node-0" / "boot_id"), sensors="rapl", interval=0.05,
                            flush_every_s=0.1)
tracker.start()
(nodes / f"started-{restart}").touch()
deadline = time.monotonic() + 120
while not (nodes / f"go-{restart}").exists() and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.3)
tracker.stop()
(nodes / f"stopped-{restart}").touch()
