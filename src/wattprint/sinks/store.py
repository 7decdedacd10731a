"""The store (SQLite or PostgreSQL) as a sink: every database write on a writer thread of its own.

The job never waits for the database. ``started`` only starts the writer, the
sampler-thread hooks only append to lists, and each flush hands what is new
(timeline rows and windows closed since the last flush) to the writer, which
opens the database, writes one transaction per batch and merges batches when
it falls behind (a database held by another process costs the writer time,
never the job). ``finished`` hands over the last batch with the final header
and waits for it at most ``wait_s`` seconds.

Every failure is a fault of the run with the source ``store``: the database
cannot be opened (nothing is written; the run goes on), a flush cannot be
written (the batch is kept and retried with the next flush; one fault per
streak of failures), the final write fails, or it is still pending when the
wait is over (the writer goes on in the background while the process lives,
so a run held up by a lock is still stored once the lock goes).

Windows written while running carry emissions priced with the intensity known
then; at the end, only the windows priced with a different intensity than the
final one are updated.
"""

from __future__ import annotations

import os
import threading
from array import array
from collections.abc import Callable

from wattprint._forkgate import database_call
from wattprint._threads import new_thread
from wattprint.sinks.base import Sink, record_fault

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wattprint.intensity.base import Intensity
    from wattprint.tracking.measure import Interval
    from wattprint.tracking.record import RunRecord, WindowRecord
    from wattprint.tracking.run import Run, Window

DEFAULT_WAIT_S = 5.0


def _open_store(path: str | None) -> Any:
    from wattprint.store.open import open_store

    return open_store(path)


def _header(run: Run) -> RunRecord:
    """The run's record without timeline and windows, read while the sampler thread cannot
    change it (attribution and GPU users are updated under the run's lock)."""
    with run._lock:
        return run.to_dict(with_timeline=False, with_windows=False)


class StoreSink(Sink):
    """Writes a run to a store (``SqliteStore`` by default) off the job's critical path.

    ``path``: the database, a file or a ``postgresql://`` URL (None: the default one). ``opener(path)`` returns an
    object with ``save_progress``, ``save_final`` and ``close`` taking what
    :class:`~wattprint.store.sqlite.SqliteStore` takes (another store, or a
    wrapper for tests). ``wait_s``: how long ``finished`` waits for the
    final write before recording it as pending.
    """

    name = "store"
    timely = False  # rows and windows go to the database at the flush: they may come in a batch

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        wait_s: float = DEFAULT_WAIT_S,
        opener: Callable[[str | None], Any] | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.wait_s = float(wait_s)
        self._opener = opener or _open_store
        self._rows: list[Interval] = []  # since the last flush; touched only by the dispatching thread
        self._windows: list[Window] = []
        self._cond = threading.Condition()
        self._pending_rows: list[Interval] = []  # handed to the writer (under _cond)
        self._pending_windows: list[Window] = []
        self._due = False
        self._final = False
        self._closing = False
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.store: Any = None
        # windows written so far, grouped by the intensity they were priced with: (seq of the
        # first, their places in run.windows, intensity); consecutive groups share an intensity.
        # Places, not the windows: the run keeps older windows in columns (window.WindowLog).
        self._written: list[tuple[int, array[int], Intensity | None]] = []
        self._windows_written = 0
        self._written_t1 = 0.0  # where the timeline rows written so far end (s since the start)
        self._failures = 0

    # -- hooks (never block) --

    def started(self, run: Run) -> None:
        self._due = True  # the header goes in at once, so a running run is listed
        self._thread = new_thread(self._loop, "wattprint-store", (run,))
        self._thread.start()

    def interval(self, run: Run, interval: Interval) -> None:
        self._rows.append(interval)

    def window(self, run: Run, window: Window) -> None:
        self._windows.append(window)

    def flushed(self, run: Run) -> None:
        self._hand_over(final=False)

    def finished(self, run: Run) -> None:
        self._hand_over(final=True)
        if self._thread is not None and not self._done.wait(self.wait_s):
            record_fault(
                run, "store",
                f"store write still pending after {self.wait_s:g} s (is another process holding the "
                "database?); the run is stored only if it completes before this process exits",
            )

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()

    def _hand_over(self, *, final: bool) -> None:
        rows, windows = self._rows, self._windows
        self._rows, self._windows = [], []
        with self._cond:
            self._pending_rows += rows
            self._pending_windows += windows
            self._due = True
            self._final = self._final or final
            self._cond.notify()

    # -- the writer thread --

    def _loop(self, run: Run) -> None:
        try:
            with database_call():
                self.store = self._opener(self.path)
        except Exception as exc:
            record_fault(run, "store", f"not storing this run: {exc}")
        try:
            while True:
                with self._cond:
                    while not (self._due or self._closing):
                        self._cond.wait()
                    rows, windows, final = self._pending_rows, self._pending_windows, self._final
                    self._pending_rows, self._pending_windows, self._due = [], [], False
                    closing = self._closing
                if self.store is not None:
                    with database_call():
                        self._write(run, rows, windows, final=final)
                del rows, windows  # not held while waiting: the run keeps older windows compact
                if final or closing:
                    return
        finally:
            self._done.set()
            if self.store is not None:
                try:
                    with database_call():
                        self.store.close()
                except Exception:  # noqa: S110 - the run is written; closing is best effort
                    pass

    def _write(self, run: Run, rows: list[Interval], windows: list[Window], *, final: bool) -> None:
        try:
            rows, windows = self._recreate_if_gone(run, rows, windows)
            if final:
                self._write_final(run, rows, windows)
                return
            dicts, priced_with = self._priced(run, windows)
            self.store.save_progress(_header(run), rows, dicts)
        except Exception as exc:
            if final:
                record_fault(run, "store", f"could not store the run: {exc}")
                return
            if not self._failures:
                record_fault(run, "store", f"write failed: {exc}; retrying with the next flush")
            self._failures += 1
            with self._cond:  # kept, in order, for the next attempt
                self._pending_rows[:0] = rows
                self._pending_windows[:0] = windows
            return
        self._failures = 0
        self._note_rows(rows)
        self._note_written(windows, priced_with)

    def _recreate_if_gone(
        self, run: Run, rows: list[Interval], windows: list[Window]
    ) -> tuple[list[Interval], list[Window]]:
        """The database deleted or replaced mid-run: say so in the run, open a fresh file and
        write everything again (a write to the old, unlinked file would vanish without an error)."""
        check = getattr(self.store, "file_problem", None)
        problem = check() if check is not None else None
        if problem is None:
            return rows, windows
        self.store.reopen()  # if this fails, nothing below has changed and the batch is retried
        record_fault(run, "store", f"{problem}; recreated it and wrote this run again")
        earlier_windows = [run.windows[i] for _, places, _ in self._written for i in places]
        self._written, self._windows_written = [], 0
        # the rows held in memory up to there (older ones merged on a long run: same energy)
        earlier_rows = run.timeline.until(self._written_t1)
        self._written_t1 = 0.0
        return earlier_rows + rows, earlier_windows + windows

    def _priced(self, run: Run, windows: list[Window]) -> tuple[list[WindowRecord], list[Intensity | None]]:
        """Window dicts, each priced with the intensity known now (if any, and not priced yet),
        and the intensity each was priced with, read before its figures (so a re-pricing by
        ``stop()`` meanwhile costs at most one needless update at the end, never a stale row)."""
        intensity = run.intensity
        dicts, priced_with = [], []
        for w in windows:
            if w.intensity is None and intensity is not None:
                w.price(intensity)
            priced_with.append(w.intensity)
            dicts.append(w.to_dict())
        return dicts, priced_with

    def _note_written(self, windows: list[Window], priced_with: list[Intensity | None]) -> None:
        for w, it in zip(windows, priced_with, strict=True):
            if self._written and self._written[-1][2] is it:
                self._written[-1][1].append(w._index)
            else:
                self._written.append((self._windows_written, array("q", [w._index]), it))
            self._windows_written += 1

    def _write_final(self, run: Run, rows: list[Interval], windows: list[Window]) -> None:
        final = run.intensity
        repriced: list[tuple[int, WindowRecord]] = []
        for first, places, it in self._written:
            if it is final:
                continue
            for k, i in enumerate(places):
                w = run.windows[i]
                if final is not None:
                    w.price(final)
                repriced.append((first + k, w.to_dict()))
        if final is not None:  # run.price has done this, unless a flush was pricing them meanwhile
            for w in windows:
                if w.intensity is not final:
                    w.price(final)
        self.store.save_final(_header(run), rows, [w.to_dict() for w in windows], repriced)
        self._note_rows(rows)
        self._note_written(windows, [final] * len(windows))

    def _note_rows(self, rows: list[Interval]) -> None:
        if rows:
            self._written_t1 = rows[-1].t1_s
