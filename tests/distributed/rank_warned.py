"""A Slurm job's process that Slurm warns (``--signal``, ``scancel --signal``) before its end.

argv: NODES_DIR DB [own]. Tracks with flushes a long way apart (so only the warning flushes),
writes ``started``, waits for ``go``, stops, writes ``stopped``, then waits for ``exit`` (a
signal sent now meets the default action again). ``own``: the program handles SIGUSR1 itself
first (writing ``own-handler`` when it is called); wattprint must leave that handler alone.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import wattprint

nodes, db = Path(sys.argv[1]), sys.argv[2]
if sys.argv[3:] == ["own"]:
    signal.signal(signal.SIGUSR1, lambda *_: (nodes / "own-handler").touch())
tracker = wattprint.Tracker("warned", rapl_root=str(nodes / "node-0" / "rapl"), store=db, country="FR",
                            boot_id_file=str(nodes / "node-0" / "boot_id"), sensors="rapl", interval=0.05,
                            flush_every_s=3600)


def wait_for(name: str) -> None:
    deadline = time.monotonic() + 60
    while not (nodes / name).exists() and time.monotonic() < deadline:
        time.sleep(0.01)


tracker.start()
(nodes / "started").touch()
wait_for("go")
time.sleep(0.3)
tracker.stop()
(nodes / "stopped").touch()
wait_for("exit")
