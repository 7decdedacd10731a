"""``--json FILE``: the finished run written as JSON, as a sink.

Written once, at ``finished``, after the sinks before it (the store first), so
the file carries their faults too. A file that cannot be written is one line
on stderr and a fault of the run (``sink:json``); the run itself goes on to
the summary and the store.
"""

from __future__ import annotations

import json
import os
import sys

from wattprint.sinks.base import Sink, record_fault

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO

    from wattprint.tracking.run import Run


class JsonFileSink(Sink):
    """Write ``run.to_dict()`` to ``path`` when the run is finished."""

    name = "json"

    def __init__(self, path: str | os.PathLike[str], *, errors: IO[str] | None = None) -> None:
        self.path = os.fspath(path)
        self.errors = errors  # where the one-line error goes (None: sys.stderr at the time)

    def finished(self, run: Run) -> None:
        data = run.to_dict()
        try:
            with open(self.path, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            print(f"wattprint: error: cannot write {self.path}: {reason}", file=self.errors or sys.stderr)
            record_fault(run, "sink:json", f"cannot write {self.path}: {reason}")
