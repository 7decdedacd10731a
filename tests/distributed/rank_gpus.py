"""One rank of a job with no communicator on a node with fake NVIDIA GPUs; counts its NVML energy reads.

argv: NODES_DIR DB GPUS. The launcher's variables (RANK, LOCAL_RANK ...) come from the test.
``SEES`` (environment): the indexes of the node's GPUs this rank sees (as CUDA_VISIBLE_DEVICES
would make it; default all). Writes ``started-RANK``, waits for ``go``, stops, then writes
``reads-RANK.json``: the energy-counter reads per GPU UUID made while the run was going.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import time
from pathlib import Path

import wattprint
from job_machines import fake_nvml

nodes, db, gpus = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rank = os.environ["RANK"]
nvml = fake_nvml(nodes, 0, gpus)
sees = os.environ.get("SEES")
if sees:
    nvml.gpus = [nvml.gpus[int(k)] for k in sees.split(",")]
reads: collections.Counter[str] = collections.Counter()
counting = False
energy = nvml.nvmlDeviceGetTotalEnergyConsumption


def counted(handle):  # type: ignore[no-untyped-def]
    if counting:
        reads[handle.uuid] += 1
    return energy(handle)


nvml.nvmlDeviceGetTotalEnergyConsumption = counted  # type: ignore[method-assign]
sys.modules["pynvml"] = nvml  # type: ignore[assignment]
tracker = wattprint.Tracker("job", rapl_root=str(nodes / "node-0" / "rapl"), store=db, country="FR",
                            boot_id_file=str(nodes / "node-0" / "boot_id"), sensors="rapl,nvml", interval=0.05,
                            flush_every_s=0.1)
tracker.start()
counting = True
(nodes / f"started-{rank}").touch()
deadline = time.monotonic() + 60
while not (nodes / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.4)
tracker.stop()
counting = False
(nodes / f"reads-{rank}.json").write_text(json.dumps(reads))
