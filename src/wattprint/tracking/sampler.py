"""The background loop: one thread per sensor set, shared by every run and window.

The sampler turns every sensor's raw readings into *cumulative joules per
channel since the sampler started*: counters by difference from their first
reading, power channels by trapezoid integration. It reads

* on its own thread, every ``tick`` seconds — the smallest interval any
  subscriber asked for, and never longer than a sensor's ``max_interval_s``
  (so no counter wrap is missed, whatever interval the user wants);
* on demand (:meth:`Sampler.read_now`), when a run or window opens or closes,
  so edges are exact rather than "the last sample".

A tick between two calls of the listeners only takes each sensor's raw
reading (:meth:`~wattprint.sensors.base.Sensor.read_raw`: for RAPL, the
counters' bytes) and keeps it. Each listener says when it next needs to be
called (a store's flush: every 10 s); until then the kept readings are made
into snapshots (:meth:`Sampler.settle`), in order and exactly as a full read
would have made them, by whoever needs the figures first: ``read_now``, a run
reading its rows, the next call. Each snapshot of a tick goes to every
listener's ``keep`` list. On a small VM most of a tick's CPU is code run cold
after the sleep, so a tick that touches little costs little.

All reads go through one lock, so sensors need no locking. A sensor that
raises is dropped and recorded in :attr:`Sampler.faults`; nothing escapes into
the host program.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from functools import partial

from wattprint._record import Record
from wattprint._threads import new_thread
from wattprint.sensors.base import Channel, Kind, Sensor

MIN_INTERVAL_S = 0.01
KEEP_MAX = 256  # raw readings kept before they are made into snapshots and the listeners called
HOLD_MAX_S = 15.0  # longest a held reader waits (the stop that holds them is bounded too)


class Snapshot:
    """Cumulative joules per channel at one instant.

    ``t_ns`` is ``time.monotonic_ns()`` (for durations), ``wall`` the UTC epoch
    seconds at the same instant (for timestamps and hourly intensity).
    """

    __slots__ = ("t_ns", "wall", "totals")

    def __init__(self, t_ns: int, wall: float, totals: dict[str, float]) -> None:
        self.t_ns = t_ns
        self.wall = wall
        self.totals = totals


class Fault(Record):
    """Something that went wrong with a sensor or channel, and when."""

    __slots__ = ("wall", "source", "message")

    def __init__(self, wall: float, source: str, message: str) -> None:
        self.wall = wall
        self.source = source  # sensor name or channel name
        self.message = message


class _PowerIntegrator:
    __slots__ = ("last_w", "last_t")

    def __init__(self) -> None:
        self.last_w: float | None = None
        self.last_t = 0


# Called with the tick's snapshot; returns the sampler-clock ns until which it can wait for its
# next call (its ``keep`` list still gets every tick's snapshot meanwhile); None: the next tick.
Listener = Callable[[Snapshot], "int | None"]


class Sampler:
    """Reads a fixed set of sensors; keeps cumulative totals; feeds listeners.

    Create it with the sensors to read; :meth:`subscribe` starts the thread,
    :meth:`unsubscribe` of the last listener stops it. Thread-safe.
    """

    def __init__(
        self,
        sensors: Sequence[Sensor],
        *,
        clock: Callable[[], int] = time.monotonic_ns,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._sensors: list[Sensor] = list(sensors)
        self._reading: tuple[Sensor, ...] = tuple(self._sensors)  # what read_now iterates
        self._clock = clock
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._origin: dict[str, float] = {}
        self._power: dict[str, _PowerIntegrator] = {}
        self._totals: dict[str, float] = {}
        self.channels: dict[str, Channel] = {}
        for s in self._sensors:
            for c in s.channels:
                self.channels[c.name] = c
                self._totals[c.name] = 0.0
                if c.kind is Kind.POWER:
                    self._power[c.name] = _PowerIntegrator()
        for s in self._sensors:  # a derived sensor (the rest-of-platform model) reads the others' totals
            bind = getattr(s, "bind_totals", None)
            if bind is not None:
                bind(self._totals)
        self.faults: list[Fault] = []
        self.ended_channels: set[str] = set()
        self._listeners: dict[int, tuple[Listener, float, list[Snapshot] | None]] = {}
        self._keeps: tuple[list[Snapshot], ...] = ()  # every listener's keep list
        self._raw: list[tuple[int, float, list[object]]] = []  # ticks read raw, not settled yet
        self._raw_reads: tuple[Callable[[], object], ...] | None = None  # None: a sensor cannot defer
        self._due_ns = 0  # the listeners' next call (sampler clock)
        self._soon = True  # call the listeners at the next tick whatever _due_ns says
        self._next_id = 0
        self._thread: threading.Thread | None = None
        # A plain lock held by nobody-in-particular is the cheapest timed wait CPython
        # has (one C call, unlike Event.wait's Python-level Condition): the loop
        # waits by acquiring it with a timeout, and _poke() releases it to wake it.
        self._wake = threading.Lock()
        self._wake.acquire()
        bounds = [s.max_interval_s for s in self._sensors if s.max_interval_s]
        self.wrap_bound_s: float | None = min(bounds) if bounds else None
        self._cpu_done = 0.0  # CPU seconds of finished loop threads
        self._cpu0 = 0.0
        # The last two background ticks: recent_power_w is derived from them on demand,
        # so the loop itself only keeps references.
        self._prev_tick: Snapshot | None = None
        self._last_tick: Snapshot | None = None
        self._callbacks: tuple[Listener, ...] = ()
        self._stopping = False
        # While a signal's stop runs, other threads' reads wait on this (see hold_readers).
        self._held: threading.Event | None = None
        self._holder: threading.Thread | None = None
        self._find_raw_reads()
        self.read_now()  # establishes every counter's origin

    # -- reading -----------------------------------------------------------------

    def read_now(self) -> Snapshot:
        """Read every sensor now and return the cumulative totals. Never raises."""
        if self._held is not None:
            self._wait_if_held()
        with self._lock:
            if self._raw:
                self._settle()
            return self._read()

    def _read(self) -> Snapshot:
        """Every sensor now (under the lock, nothing kept raw)."""
        for sensor in self._reading:
            self._take(sensor, sensor.read, None, None)
        return Snapshot(self._clock(), self._wall(), dict(self._totals))

    def _take(self, sensor: Sensor, values: Callable[[], dict[str, float]], t: int | None,
              wall: float | None) -> bool:
        """One sensor's ``values()`` into the totals, as of ``t`` and ``wall`` (None: now).
        A sensor that raises is dropped, its channels end (returns False)."""
        try:
            got = values()
        except Exception as exc:  # a broken sensor must never reach the host program
            self._drop(sensor, f"{type(exc).__name__}: {exc}")
            return False
        self._absorb(got, self._clock() if t is None else t)
        if sensor.faults or sensor.notes:
            self._drain(sensor, self._wall() if wall is None else wall)
        return True

    def settle(self) -> None:
        """Make the ticks read raw into snapshots now (each goes to every keep list)."""
        if self._raw:
            with self._lock:
                self._settle()

    def _settle(self) -> None:
        """The raw ticks, in order, as a full read would have made them (under the lock)."""
        batch, self._raw = self._raw, []
        sensors, dropped = self._reading, False
        for t, wall, raws in batch:
            for sensor, raw in zip(sensors, raws, strict=True):
                if dropped and sensor not in self._reading:
                    continue
                dropped |= not self._take(sensor, partial(sensor.settle, raw), t, wall)
            self._ticked(Snapshot(t, wall, dict(self._totals)))

    def _ticked(self, snap: Snapshot) -> None:
        """A tick's snapshot: the last two for recent_power_w, and one for every keep list."""
        self._prev_tick, self._last_tick = self._last_tick, snap
        for keep in self._keeps:
            keep.append(snap)

    def hold_readers(self) -> None:
        """Make reads from other threads wait until :meth:`release_readers` (at most ``HOLD_MAX_S``).

        For a stop after a signal: a program reading counters in a tight loop
        re-takes the lock before a waiting thread wakes (CPython's locks are not
        fair), which could delay the stop for seconds. The loop thread is not held.
        """
        self._holder = threading.current_thread()
        self._held = threading.Event()

    def release_readers(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.set()

    def _wait_if_held(self) -> None:
        held, me = self._held, threading.current_thread()
        if held is not None and me is not self._holder and me is not self._thread:
            held.wait(HOLD_MAX_S)

    def _drain(self, sensor: Sensor, wall: float) -> None:
        """Record a sensor's channel faults (the channel ends) and notes (it goes on), as of ``wall``."""
        for channel, message in sensor.faults:
            self.faults.append(Fault(wall, channel, message))
            self.ended_channels.add(channel)
        sensor.faults.clear()
        if sensor.notes:  # a sensor that skipped Sensor.__init__ has the class's empty tuple
            for channel, message in sensor.notes:
                self.faults.append(Fault(wall, channel, f"note: {message}"))
            sensor.notes = []

    def _absorb(self, raw: dict[str, float], t: int) -> None:
        if not self._power:  # counters only (RAPL, NVML energy): a difference from each origin
            totals, origins = self._totals, self._origin
            try:
                for name, value in raw.items():
                    totals[name] = value - origins[name]
                return
            except KeyError:  # a channel read for the first time: below sets its origin
                pass
        for name, value in raw.items():
            integ = self._power.get(name)
            if integ is None:
                origin = self._origin.setdefault(name, value)
                self._totals[name] = value - origin
                continue
            if integ.last_w is not None and value is not None:
                dt = (t - integ.last_t) / 1e9
                self._totals[name] += 0.5 * (integ.last_w + value) * dt
            integ.last_w, integ.last_t = value, t

    def _find_raw_reads(self) -> None:
        """Whether ticks may be read raw: no sensor reads the others' totals (the platform
        models do, so theirs must be settled first), and each has ``read_raw``."""
        reads = [getattr(s, "read_raw", None) for s in self._reading]
        deferrable = all(r is not None and not hasattr(s, "bind_totals") for s, r in zip(self._reading, reads))
        self._raw_reads = tuple(reads) if deferrable else None  # type: ignore[arg-type]

    def _drop(self, sensor: Sensor, message: str) -> None:
        self._sensors.remove(sensor)
        self._reading = tuple(self._sensors)
        self._find_raw_reads()
        self.faults.append(Fault(self._wall(), sensor.name, f"sensor dropped: {message}"))
        for c in sensor.channels:
            self.ended_channels.add(c.name)
        try:
            sensor.close()
        except Exception:  # noqa: S110 - closing a broken sensor is best effort
            pass

    # -- subscription and the loop ---------------------------------------------------

    def subscribe(self, listener: Listener, interval_s: float, keep: list[Snapshot] | None = None) -> int:
        """Tick about every ``interval_s`` (≥ 10 ms) until unsubscribed; each tick's snapshot is
        appended to ``keep`` (when given), and ``listener(snapshot)`` is called at the first
        tick, then at the first tick at or after the time it returned (None: every tick), on
        the sampler's thread, whenever ``KEEP_MAX`` ticks were kept raw, and soon after
        :meth:`call_soon`."""
        interval_s = max(MIN_INTERVAL_S, float(interval_s))
        with self._lock:
            if self._raw:  # the new keep list starts with the ticks from now on
                self._settle()
            token = self._next_id
            self._next_id += 1
            self._listeners[token] = (listener, interval_s, keep)
            self._relisten()
            self._soon = True
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = new_thread(self._loop, "wattprint-sampler")
                self._thread.start()
        self._poke()  # re-evaluate the tick with the new interval
        return token

    def unsubscribe(self, token: int) -> None:
        """Stop calling a listener; the thread ends with the last one."""
        with self._lock:
            if self._raw:  # the leaving keep list gets every tick up to now
                self._settle()
            self._listeners.pop(token, None)
            self._relisten()
            last = not self._listeners
            thread = self._thread
        if last and thread is not None:
            self._stopping = True
            self._poke()
            _join(thread)

    def _relisten(self) -> None:
        """The callbacks and keep lists, from the listeners (under the lock)."""
        self._callbacks = tuple(cb for cb, _, _ in self._listeners.values())
        self._keeps = tuple(k for _, _, k in self._listeners.values() if k is not None)

    def call_soon(self) -> None:
        """Call the listeners at the next tick (safe from a signal handler: one assignment)."""
        self._soon = True

    @property
    def tick_s(self) -> float:
        """Seconds between background reads: smallest asked interval, capped by the wrap bound."""
        intervals = [iv for _, iv, _ in self._listeners.values()] or [1.0]
        tick = min(intervals)
        if self.wrap_bound_s is not None:
            tick = min(tick, self.wrap_bound_s)
        return max(MIN_INTERVAL_S, tick)

    def _poke(self) -> None:
        try:
            self._wake.release()
        except RuntimeError:  # already released: a wake-up is pending anyway
            pass

    def _loop(self) -> None:
        # The hot path: one wake-up per tick and, until the listeners are due, only the
        # sensors' raw reads. Kept to the few bytecodes it needs, because on a small VM
        # every line run cold after a sleep costs microseconds of CPU that show up in the
        # tracker's overhead.
        self._cpu0 = time.thread_time()
        clock, clock_ns = time.monotonic, self._clock
        tick = self.tick_s
        next_t = clock() + tick
        try:
            while not self._stopping:
                delay = next_t - clock()
                if delay > 0 and self._wake.acquire(timeout=delay):  # poked (and the lock is held again)
                    if self._stopping:
                        break
                    tick = self.tick_s
                    next_t = min(next_t, clock() + tick)
                    continue
                if self._raw_reads is None or self._soon or clock_ns() >= self._due_ns or self._keep_raw():
                    self._call()
                next_t += tick
                now = clock()
                if next_t < now:  # fell behind (suspended, overloaded): don't burst-catch-up
                    next_t = now + tick
        finally:
            self._cpu_done += time.thread_time() - self._cpu0
            self._cpu0 = 0.0

    def _keep_raw(self) -> bool:
        """A tick whose figures nobody needs yet: each sensor's raw reading, kept. True when
        the listeners are to be called now (``KEEP_MAX`` ticks kept, or a sensor failed).

        The tick's time is taken under the lock, as in a full read: a read from another
        thread that took the lock first is earlier in time as in the counters."""
        with self._lock:
            reads = self._raw_reads
            if reads is None:  # a sensor that cannot defer came in meanwhile
                return True
            try:
                self._raw.append((self._clock(), self._wall(), [r() for r in reads]))
            except Exception:  # a sensor failed: the full read that follows drops it
                return True
            return len(self._raw) >= KEEP_MAX

    def _call(self) -> None:
        """A full tick (the raw ones settled first), then every listener, each saying when it
        needs its next call."""
        with self._lock:
            if self._raw:
                self._settle()
            snap = self._read()
            self._ticked(snap)
        self._soon = False  # before the calls: a call_soon() during them is not lost
        due: int | None = None
        for cb in self._callbacks:
            try:
                d = cb(snap)
            except Exception as exc:  # a listener bug must not kill sampling
                self.faults.append(Fault(time.time(), "listener", repr(exc)))
                d = None
            due = 0 if d is None else d if due is None else min(due, d)
        self._due_ns = 0 if due is None else due

    @property
    def cpu_time_s(self) -> float:
        """CPU seconds the sampling thread has used (for benchmarks); read from outside it."""
        thread = self._thread
        if thread is not None and thread.is_alive() and self._cpu0 and hasattr(time, "pthread_getcpuclockid"):
            try:
                clock = time.pthread_getcpuclockid(thread.ident)  # type: ignore[arg-type]
                return self._cpu_done + time.clock_gettime(clock) - self._cpu0
            except (OSError, OverflowError):
                pass
        return self._cpu_done

    @property
    def recent_power_w(self) -> dict[str, float]:
        """Mean power per channel over the last background tick (W); ``{}`` before two ticks.

        The estimate used for windows shorter than a channel's update period.
        """
        prev, last = self._prev_tick, self._last_tick
        if prev is None or last is None or last.t_ns <= prev.t_ns:
            return {}
        dt = (last.t_ns - prev.t_ns) / 1e9
        return {n: (last.totals[n] - prev.totals.get(n, 0.0)) / dt for n in last.totals}

    def after_fork_in_child(self) -> bool:
        """In a forked child: no loop thread, no listeners, fresh locks (the parent's may be held).

        Sensors whose handles are safe to use after ``fork()`` stay open (a RAPL
        descriptor is the child's own copy), so the child's copy of a run can
        still read counters; a new subscriber starts a new thread. Sensors that
        are not (``fork_safe = False``: NVML and amdsmi, whose handles and
        library state belong to the process that opened them) are set aside
        unread and unclosed, as closing calls the library too: their channels
        end here for this copy. Returns whether any was set aside (the pool then
        opens fresh sensors for a run the child starts itself).
        """
        self._keeps = ()  # the parent's runs: this copy's are detached
        if self._raw:  # the counters' state moves on with the ticks read before the fork
            try:
                self._settle()
            except Exception as exc:  # best effort: said, and the next read goes on from the last settled
                self._raw = []
                self.faults.append(Fault(self._wall(), "sampler", f"readings taken before the fork lost: {exc!r}"))
        unsafe = [s for s in self._sensors if not getattr(s, "fork_safe", True)]
        if unsafe:
            self._sensors = [s for s in self._sensors if s not in unsafe]
            self._reading = tuple(self._sensors)
            for s in unsafe:
                self.ended_channels.update(c.name for c in s.channels)
                self.faults.append(Fault(self._wall(), s.name,
                                         "not read in a forked child: its handles belong to the parent"))
            _set_aside_in_child.extend(unsafe)  # never closed here, never collected either
            self._prev_tick = self._last_tick = None  # their recent power is the parent's
            self._find_raw_reads()
        self._lock = threading.Lock()
        self._wake = threading.Lock()
        self._wake.acquire()
        self._listeners = {}
        self._callbacks = ()
        self._soon, self._due_ns = True, 0
        self._thread = None
        self._stopping = False
        self._cpu0 = 0.0
        self._held = self._holder = None
        return bool(unsafe)

    @property
    def sensors(self) -> list[Sensor]:
        """The sensors still being read (failed ones are dropped)."""
        return list(self._sensors)

    def close(self) -> None:
        """Stop the thread and close every sensor."""
        with self._lock:
            self._listeners.clear()
            self._relisten()
            self._raw = []
        self._stopping = True
        self._poke()
        if self._thread is not None:
            _join(self._thread)
        for s in self._sensors:
            try:
                s.close()
            except Exception:  # noqa: S110
                pass
        self._sensors.clear()
        self._reading = ()


_set_aside_in_child: list[Sensor] = []  # a forked child's copies of sensors it must not touch


def _join(thread: threading.Thread) -> None:
    """Wait (bounded) for the loop thread to end; not from itself, and not if it never started
    (a KeyboardInterrupt can land inside ``Thread.start``)."""
    if thread is threading.current_thread():
        return
    try:
        thread.join(timeout=2.0)
    except RuntimeError:  # "cannot join thread before it is started"
        pass
