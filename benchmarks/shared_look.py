"""Two jobs on one node: what a running job's look at the host registry costs (tracking/shared.py).

A rank looks about once a second, from the sampler's thread: :meth:`HostRegistry.others_on`
(open, a shared lock taken without waiting, read and parse the JSON, drop dead pids) and the
bookkeeping of :class:`Sharing`. The registry here holds ``--entries`` live entries (this
process's pid, so every one counts as alive), half of another job on the same CPU package,
each listing 2 host devices and 1 GPU, as 8 ranks of 2 jobs would.

    .venv/bin/python benchmarks/shared_look.py [--entries 16] [--n 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

from wattprint.tracking.hostreg import HostRegistry
from wattprint.tracking.shared import Sharing


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=16)
    ap.add_argument("--n", type=int, default=5000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        reg = HostRegistry(d, "boot")
        entries = [{"job": f"job-{i % 2}", "rank": i, "local_rank": i, "pid": os.getpid(), "since": time.time(),
                    "gpus": [f"gpu:GPU-{i}"], "devices": ["boot/cpu:package-0", "boot/dram:package-0", f"gpu:GPU-{i}"]}
                   for i in range(args.entries)]
        reg.register("job-0", 0, 0, [])  # creates the file
        with open(reg.path, "w", encoding="utf-8") as fh:
            json.dump(entries, fh)
        sharing = Sharing(reg, "job-0")
        sharing.measure({"boot/cpu:package-0": "cpu:package-0", "boot/dram:package-0": "dram:package-0"})
        times = []
        for _ in range(args.n):
            t = time.perf_counter_ns()
            sharing.look(force=True)
            times.append(time.perf_counter_ns() - t)
        assert sharing.seen["cpu:package-0"].keys() == {"job-1"}
    times.sort()
    print(f"{args.entries} entries: look median {statistics.median(times) / 1e3:.1f} us, "
          f"p99 {times[int(len(times) * 0.99)] / 1e3:.1f} us, once a second: "
          f"{statistics.median(times) / 1e9 * 100:.4f} % of one core")


if __name__ == "__main__":
    main()
