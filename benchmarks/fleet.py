"""The fleet figures of issue 14 in one go: the exporter, a shared store, the dashboard.

    python benchmarks/fleet.py [--quick]

Runs the three scripts one after the other, each in its own process, and prints
their figures as they print them (Markdown tables; RESULTS.md sections 7-9):

* ``fleet_exporter.py``: scrape latency and the agent's CPU per scrape;
* ``fleet_store.py``: runs/s and intervals/s with 8 writer processes, PostgreSQL
  (a throwaway server, or ``--pg URL`` passed through) against SQLite;
* ``fleet_dashboard.py``: page times for a synthetic week at 1 s and a store of
  10,000 runs.

``--quick`` passes each script its smaller settings (fewer scrapes, runs, days), for
a check that they work rather than figures to keep; run a script by itself for
its own options. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = {
    "fleet_exporter.py": ["--scrapes", "100"],
    "fleet_store.py": ["--runs", "2"],
    "fleet_dashboard.py": ["--days", "1", "--runs", "1000"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small settings: a check, not figures to keep")
    args = ap.parse_args()
    failed = []
    for script in QUICK:
        print(f"\n# {script}\n", flush=True)
        cmd = [sys.executable, str(HERE / script), *(QUICK[script] if args.quick else [])]
        if subprocess.run(cmd, check=False).returncode != 0:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
