"""``wattprint merge JOB``: one view of a distributed job from its ranks' partial runs."""

from __future__ import annotations

import argparse
from typing import Any

from wattprint.cli.common import UsageError
from wattprint.cli.options import add_db, open_store


def register(sub: Any) -> None:
    p = sub.add_parser(
        "merge", help="merge the ranks of a distributed job into one run (each device counted once)",
        description="Merge every stored partial run of a distributed job (one per rank) into one job view: "
        "totals with each device counted once, per-node and per-rank breakdown. The last rank to finish "
        "does this by itself; run it by hand after a rank died or never stopped.",
    )
    p.add_argument("job", help="job id (as 'wattprint runs' shows it), or the id of any of its runs")
    add_db(p)
    p.set_defaults(func=handle_merge)


def handle_merge(args: argparse.Namespace) -> int:
    from wattprint.errors import StoreError
    from wattprint.report.job import job_lines
    from wattprint.report.text import summary
    from wattprint.store.jobs import job_id_of, merge_job
    from wattprint.tracking.slurm import cross_check

    store = open_store(args, write=True)
    try:
        view = merge_job(store, job_id_of(store, args.job), check=cross_check)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    print(summary(dict(view)))
    print(f"  stored as run {view['id']}")
    for line in job_lines(view):
        print(line)
    return 0
