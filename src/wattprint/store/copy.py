"""Moving runs between stores without loss (``wattprint db copy SRC DST``).

Each run is read from the source (header, channels, windows, the timeline
streamed a few chunks at a time) and written to the destination in one
transaction (:meth:`~wattprint.store.sql.SqlStore.import_run`), then read back
from both and compared: header, channels and windows as records, the timeline
interval by interval. The timeline's values are float64 in both stores, so
"equal" means bit-for-bit, not approximately.

Copying again copies nothing twice: a run the destination already holds, equal
to the source's, is skipped; one that differs (a run that was still running at
the last copy) is replaced whole. Idle baselines are copied too (one row per
host and instant, so again nothing twice).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import zip_longest
from typing import Any

from wattprint._record import Record
from wattprint.errors import StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wattprint.store.base import Store


class CopyResult(Record):
    """What a copy did: runs copied, runs already there, timeline intervals copied, baselines added."""

    __slots__ = ("copied", "skipped", "intervals", "baselines")

    def __init__(self) -> None:
        self.copied = 0
        self.skipped = 0
        self.intervals = 0
        self.baselines = 0


def _text(value: Any) -> str:
    """A canonical text of a record part: equal texts are equal values, NaN included (a
    window priced before the intensity was known keeps NaN in its channels), and floats
    are written exactly (``repr``), so equal means bit-for-bit."""
    return json.dumps(value, sort_keys=True)


def _same_run(src: Store, dst: Store, run_id: str) -> str | None:
    """Where the run differs between the two stores, or None when it reads back equal."""
    a, b = src.get_run(run_id, timeline=False), dst.get_run(run_id, timeline=False)
    if _text(a) != _text(b):
        keys = sorted(k for k in set(a) | set(b) if _text(a.get(k)) != _text(b.get(k)))
        return f"differs in {', '.join(keys)}"
    for i, (x, y) in enumerate(zip_longest(src.iter_timeline(run_id), dst.iter_timeline(run_id))):
        if x is None or y is None or (x.to_dict() != y.to_dict() and _text(x.to_dict()) != _text(y.to_dict())):
            return f"differs in timeline interval {i}"
    return None


def copy_runs(src: Store, dst: Store, *, project: str | None = None, owner: str | None = None,
              progress: Callable[[str, str], Any] | None = None) -> CopyResult:
    """Copy every run of ``src`` (or only a project's / an owner's) and every baseline to ``dst``.

    ``progress(run_id, what)`` is told of each run: ``"copied"`` or ``"skipped"``. Raises
    :class:`StoreError` when a copied run does not read back equal (the copy stops there:
    the runs before it are copied and verified).
    """
    result = CopyResult()
    there = {r["id"] for r in dst.list_runs(project=project, owner=owner)}
    for header in reversed(src.list_runs(project=project, owner=owner)):  # oldest first
        rid = header["id"]
        if rid in there and _same_run(src, dst, rid) is None:
            result.skipped += 1
            if progress:
                progress(rid, "skipped")
            continue
        record = src.get_run(rid, timeline=False)
        dst.import_run(record, src.iter_timeline(rid))
        problem = _same_run(src, dst, rid)
        if problem:
            raise StoreError(f"run {rid} copied to {dst.path} does not read back equal: {problem}")
        result.copied += 1
        result.intervals += record.get("timeline_intervals", 0)
        if progress:
            progress(rid, "copied")
    known = {(b.host, b.measured_utc) for b in dst.list_baselines()}
    for base in src.list_baselines():
        if (base.host, base.measured_utc) not in known:
            dst.save_baseline(base)
            result.baselines += 1
    return result
