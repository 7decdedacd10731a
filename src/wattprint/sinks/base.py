"""The sink seam: everything that receives a run's life as it happens.

A sink is told when a run starts, each time a timeline interval closes, each
time a window closes, at every periodic flush, and when the run is finished;
then it is closed. The SQLite store (:mod:`wattprint.sinks.store`), the live
view (:mod:`wattprint.sinks.live`) and ``--json`` (:mod:`wattprint.sinks.jsonfile`)
are sinks; an exporter or another store is one more module with one class.

Who calls what, and from which thread:

=============================  =====================  ==========================================
hook                           thread                 how often
=============================  =====================  ==========================================
``started(run)``               the one calling         once, inside ``Tracker.start()`` (or at
                               ``start()``             :meth:`Tracker.add_sink` on a running run)
``interval(run, interval)``    the sampler thread      once per timeline row (every ``interval``
                                                      seconds); the last row from ``stop()``
``window(run, window)``        the sampler thread      once per closed window, at the first tick
                                                      after it closed; the rest from ``stop()``
                                                      (both: in a batch at the next flush when no
                                                      sink that takes them is ``timely``)
``flushed(run)``               the sampler thread      every ``flush_every_s`` (monotonic clock)
``finished(run)``              the one calling         once, in ``stop()``, when every figure is
                               ``stop()``              final (priced); nothing follows but close
``close()``                    the one calling         once, after ``finished`` (or when dropped)
                               ``stop()``
=============================  =====================  ==========================================

Rules for a sink: hooks on the sampler thread must return in microseconds
(append to a list, set a flag); anything that can block (a file, a socket, a
database) belongs on the sink's own thread, like the store's writer. A hook
must not hold on to the sampler thread, and must not call back into the
tracker. ``finished`` may wait, but only for a bounded time. A sink that
raises from any hook is dropped at once (closed, never called again) and
recorded in the run as ``Fault(wall, "sink:<name>", message)``; the exception
never reaches the tracked program. Windows and intervals arrive in the order
they closed; a window is delivered a tick after it closed, never from the
thread that closed it, so closing a window never waits for a sink.

A sink whose ``timely`` is False (the store: its rows only need to be there by
the next flush) lets the tracker skip the per-tick work: while every sink that
takes intervals or windows is like it, the run's rows are made from the
sampler's readings, unchanged, once per flush rather than once per tick, which
is most of a tick's CPU on an idle machine (see ``Tracker._on_tick``).
"""

from __future__ import annotations

import threading
import time

from wattprint.tracking.sampler import Fault

TYPE_CHECKING = False  # not from typing: see tracking/tracker.py
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from wattprint.tracking.measure import Interval
    from wattprint.tracking.run import Run, Window

HOOKS = ("started", "interval", "window", "flushed", "finished")


class Sink:
    """Base class of every sink: each hook does nothing unless overridden.

    Override only the hooks you need: the tracker skips the others entirely,
    so a sink that ignores intervals costs nothing per interval. ``name``
    labels the sink's faults (``sink:<name>``).
    """

    name = "sink"
    timely = True  # intervals and windows as they close; False: in a batch by the next flush will do

    def started(self, run: Run) -> None:
        """The run has begun (its first reading is taken, the sampler not yet ticking for it)."""

    def interval(self, run: Run, interval: Interval) -> None:
        """A timeline row closed: energy per channel between two instants (sampler thread)."""

    def window(self, run: Run, window: Window) -> None:
        """A window closed; its figures are final except emissions (sampler thread)."""

    def flushed(self, run: Run) -> None:
        """Periodic: a good moment to hand what is new to a slow destination (sampler thread)."""

    def finished(self, run: Run) -> None:
        """The run ended and is priced; every figure is final. May wait, for a bounded time."""

    def close(self) -> None:
        """Release what the sink holds; called once, after ``finished`` or when dropped."""


def sink_list(value: object) -> list[object]:
    """``Tracker(sinks=...)`` checked at once: a list or tuple of objects with sink hooks."""
    if value is None:
        return []
    items = list(value) if isinstance(value, (list, tuple)) else None
    if items is None or not all(any(callable(getattr(s, h, None)) for h in HOOKS) for s in items):
        from wattprint.errors import ConfigError

        raise ConfigError(f"sinks wants a list of Sink objects (see wattprint.sinks.Sink), got {value!r:.80}")
    return items


def sink_name(sink: object) -> str:
    """The name a sink's faults carry."""
    return str(getattr(sink, "name", None) or type(sink).__name__)


def record_fault(run: Run, source: str, message: str) -> None:
    """Add a fault to ``run`` (safe from any thread: one list append)."""
    run.faults.append(Fault(time.time(), source, message))


class Sinks:
    """A run's sinks and what they have been told: the tracker's only contact with them.

    The tracker calls :meth:`start`, :meth:`tick` from the sampler thread (after
    the run has taken the snapshot), :meth:`stopping` as ``stop()`` begins and
    :meth:`finish` once the run is priced. New timeline rows and windows are
    found by two length checks per tick; a flush is due on the sampler's
    monotonic clock, so a wall-clock step never stops flushes. Per hook the
    dispatcher keeps the bound methods of the sinks that override it (rebuilt
    only when a sink is added or dropped), so a hook nobody needs costs nothing.
    """

    def __init__(self, sinks: Iterable[object] = (), *, flush_every_s: float = 10.0) -> None:
        self._sinks: tuple[object, ...] = tuple(sinks)
        self._hooks: dict[str, tuple[tuple[object, Callable[..., object]], ...]] = {}
        self._rebuild()
        # one deliverer at a time (the sampler thread or stop()); re-entrant, so a sink that
        # stops the tracker from a hook, against the rules, still cannot hang the program
        self._lock = threading.RLock()
        self._rows = self._windows = 0  # rows and windows delivered so far
        self._flush_ns = int(max(0.0, float(flush_every_s)) * 1e9)
        self._next_flush_ns = 0
        self._stopping = False
        self._closed = False

    def __iter__(self) -> Iterator[object]:
        return iter(self._sinks)

    def __len__(self) -> int:
        return len(self._sinks)

    def _rebuild(self) -> None:
        hooks: dict[str, tuple[tuple[object, Callable[..., object]], ...]] = {}
        for hook in HOOKS:
            found = []
            for s in self._sinks:
                method = getattr(s, hook, None)
                if method is None or getattr(type(s), hook, None) is getattr(Sink, hook):
                    continue  # not overridden: never called
                found.append((s, method))
            hooks[hook] = tuple(found)
        self._timely = any(getattr(s, "timely", True) for h in ("interval", "window") for s, _ in hooks[h])
        self._hooks = hooks  # one assignment: readers see the old or the new table

    def _drop(self, sink: object, run: Run, hook: str, exc: BaseException) -> None:
        if sink not in self._sinks:
            return
        self._sinks = tuple(s for s in self._sinks if s is not sink)
        self._rebuild()
        record_fault(run, f"sink:{sink_name(sink)}",
                     f"{hook} raised {type(exc).__name__}: {exc}; sink dropped")
        try:
            sink.close()  # type: ignore[attr-defined]
        except Exception:  # noqa: S110 - closing a broken sink is best effort
            pass

    def _call(self, hook: str, run: Run, *args: object) -> None:
        if self._closed:  # nothing after finished, even from a tick that was under way
            return
        for sink, method in self._hooks[hook]:
            try:
                method(run, *args)
            except Exception as exc:  # a sink must never reach the tracked program
                self._drop(sink, run, hook, exc)

    def _deliver_new(self, run: Run) -> None:
        """Rows and windows closed since the last delivery, in order (under the lock)."""
        n = run.timeline.appended
        if n > self._rows:
            rows, self._rows = run.timeline.since(self._rows)[: n - self._rows], n
            if self._hooks["interval"]:
                for iv in rows:
                    self._call("interval", run, iv)
        n = len(run.windows)
        if n > self._windows:
            windows, self._windows = run.windows[self._windows : n], n
            if self._hooks["window"]:
                for w in windows:
                    self._call("window", run, w)

    # -- what the tracker calls --

    def start(self, run: Run, t_ns: int) -> None:
        """The run began at ``t_ns`` (sampler clock): tell every sink."""
        self._next_flush_ns = t_ns + self._flush_ns
        self._call("started", run)

    def add(self, sink: object, run: Run | None = None) -> None:
        """Add a sink; when ``run`` is already going, tell the sink it started."""
        self._sinks += (sink,)
        self._rebuild()
        started = getattr(sink, "started", None)
        if run is not None and started is not None:
            try:
                started(run)
            except Exception as exc:
                self._drop(sink, run, "started", exc)

    @property
    def deliver_by_ns(self) -> int:
        """Until when (sampler clock) the run's rows may wait: 0 while a sink wants them
        as they close, else the next flush (brought forward by :meth:`flush_soon`)."""
        return 0 if self._timely else self._next_flush_ns

    def tick(self, run: Run, t_ns: int) -> None:
        """Sampler thread, each tick: deliver what closed since the last one; flush when due."""
        with self._lock:
            if self._stopping:
                return
            self._deliver_new(run)
            if t_ns >= self._next_flush_ns:
                self._next_flush_ns = t_ns + self._flush_ns
                self._call("flushed", run)

    def flush_soon(self) -> None:
        """Flush at the next tick (safe from a signal handler: one assignment, no lock)."""
        self._next_flush_ns = 0

    def stopping(self) -> None:
        """``stop()`` has begun: no more flushes from a tick that is still running."""
        with self._lock:
            self._stopping = True

    def finish(self, run: Run) -> None:
        """The run is final: the last rows and windows, ``finished``, then close every sink once."""
        with self._lock:
            self._deliver_new(run)
        self._call("finished", run)
        if self._closed:
            return
        self._closed = True
        for s in self._sinks:
            try:
                s.close()  # type: ignore[attr-defined]
            except Exception:  # noqa: S110 - a failure here is not the run's
                pass
