"""Windows: named sub-spans of a run, figures from counter reads at their edges.

``with run.window("eval"):`` or ``w = run.open_window("eval"); ...; w.close()``.
Windows nest and overlap; their energy is the difference of totals read
fresh at their edges (and the units of work the run counted in between), so
opening one costs one read of the counters, not a thread. Split from
:mod:`wattprint.tracking.run`, which creates them.
"""

from __future__ import annotations

import contextvars
import threading
from array import array

from wattprint.intensity.base import Intensity
from wattprint.sensors.base import Channel, update_period
from wattprint.tracking.measure import ChannelTotal, Measurement
from wattprint.tracking.pricing import window_g_per_kwh
from wattprint.tracking.progress import Counts, difference
from wattprint.tracking.sampler import Snapshot
from wattprint.units import emissions_g as _emissions_g

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import overload

    from wattprint.tracking.record import WindowRecord
    from wattprint.tracking.run import Run


# -- spans ----------------------------------------------------------------------------


def _total(name: str, ch: Channel, energy_j: float, emissions_g: float = 0.0) -> ChannelTotal:
    return ChannelTotal(name, ch.component, str(ch.method), ch.band, energy_j, ch.in_total, ch.detail, emissions_g)


def _channel_totals(
    channels: dict[str, Channel], a: Snapshot, b: Snapshot
) -> dict[str, ChannelTotal]:
    out = {name: _total(name, ch, max(0.0, b.totals.get(name, 0.0) - a.totals.get(name, 0.0)))
           for name, ch in channels.items()}
    total = next((ch for ch in channels.values() if ch.component == "platform" and ch.in_total), None)
    if total is not None:  # a whole-machine total: its band depends on the span (fallback share, edges)
        from wattprint.sensors.platform.total import widen

        widen(out[total.name], total, out, (b.t_ns - a.t_ns) / 1e9)
    return out


class _Fixed:
    """A closed window's figures, once fixed: two float arrays in the order of the sampler's
    channels (whose metadata every window shares). ~0.2 KB where a dict of ``ChannelTotal``
    objects and the edges' snapshots took ~1 KB, for runs that hold 100 k windows."""

    __slots__ = ("channels", "energy", "emissions", "offset_s", "bands")

    def __init__(self, channels: dict[str, Channel], chans: dict[str, ChannelTotal], offset_s: float) -> None:
        self.channels = channels
        self.energy = array("d", [c.energy_j for c in chans.values()])
        self.emissions = array("d", [c.emissions_g for c in chans.values()])
        self.offset_s = offset_s
        # bands that differ from the channel's (a whole-machine total widened over a short window)
        self.bands = {n: c.band for n, c in chans.items() if c.band != channels[n].band} or None

    def expand(self) -> dict[str, ChannelTotal]:
        return _expand(self.channels, self.energy, self.emissions, self.bands)


def _expand(channels: dict[str, Channel], energy: array[float], emissions: array[float],
            bands: dict[str, float] | None) -> dict[str, ChannelTotal]:
    out = {name: _total(name, ch, e, g) for (name, ch), e, g in zip(channels.items(), energy, emissions, strict=True)}
    for name, band in (bands or {}).items():
        out[name].band = band
    return out


class _Row:
    """A compacted window's figures: its row in the run's :class:`WindowLog` columns."""

    __slots__ = ("log", "i")

    def __init__(self, log: WindowLog, i: int) -> None:
        self.log, self.i = log, i

    @property
    def channels(self) -> dict[str, Channel]:
        return self.log.channels

    @property
    def offset_s(self) -> float:
        return self.log._floats[self.i * _FLOATS]

    @property
    def energy(self) -> array[float]:
        n = self.log._n
        return self.log._energy[self.i * n:(self.i + 1) * n]

    @property
    def emissions(self) -> array[float]:
        n = self.log._n
        return self.log._emissions[self.i * n:(self.i + 1) * n]

    @emissions.setter
    def emissions(self, value: array[float]) -> None:
        n = self.log._n
        self.log._emissions[self.i * n:(self.i + 1) * n] = value

    @property
    def bands(self) -> dict[str, float] | None:
        return self.log._bands.get(self.i)

    def expand(self) -> dict[str, ChannelTotal]:
        return _expand(self.channels, self.energy, self.emissions, self.bands)


# The last expansion, reused while its window's figures stay the same: a record (to_dict)
# reads the channels five times. One slot, replaced whole (safe from any thread).
_last: tuple[_Fixed, array[float], dict[str, ChannelTotal]] | None = None


def _expanded(fixed: _Fixed | _Row) -> dict[str, ChannelTotal]:
    global _last
    if type(fixed) is _Row:
        return fixed.expand()
    last = _last
    if last is not None and last[0] is fixed and last[1] is fixed.emissions:
        return last[2]
    chans = fixed.expand()
    _last = (fixed, fixed.emissions, chans)  # type: ignore[assignment]
    return chans


_CLOSED = Snapshot(0, 0.0, {})  # the edges of a window whose figures are fixed (only "closed" is read)

_current_window: contextvars.ContextVar[Window | None] = contextvars.ContextVar(
    "wattprint_window", default=None
)


class Window(Measurement):
    """A named sub-span of a run; energy = totals at close − totals at open.

    Opening and closing cost one counter read each and nothing else: the
    per-channel figures are worked out on first use (or when the run ends),
    so windows can wrap even tight loops. Use as ``with run.window("x") as w``
    or ``w = run.open_window("x"); ...; w.close()``.
    """

    kind = "window"

    def __init__(self, run: Run, name: str, parent: Window | None) -> None:  # noqa: D107
        # Measurement.__init__ is not called: channels and emissions are lazy here.
        self.run = run
        self.name = name
        self.parent = parent
        self._counts0: Counts = run._progress.counts()
        self._counts1: Counts | None = None
        self._open: Snapshot = run._sampler.read_now()
        self._end: Snapshot | None = None
        self._fixed: _Fixed | _Row | None = None  # the figures once closed and worked out
        self._index = -1  # its place in the run's windows, once closed
        self._recent_power: dict[str, float] | None = None
        self._token: contextvars.Token[Window | None] | None = None
        self.start_wall = self._open.wall
        self.duration_s = 0.0
        self._intensity: Intensity | None = None
        self._market: float | None = None
        # duration, (channel, period, from recent power: else a whole-machine meter over < 3 periods)
        self._estimated: tuple[float, tuple[tuple[str, float, bool], ...]] | None = None

    def __enter__(self) -> Window:
        self._token = _current_window.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _current_window.reset(self._token)
            self._token = None
        self.close()

    @property
    def closed(self) -> bool:
        return self._end is not None

    @property
    def intensity(self) -> Intensity | None:
        """The intensity the window was priced with (None: not priced yet)."""
        fixed = self._fixed
        return fixed.log._intensity[fixed.i] if type(fixed) is _Row else self._intensity

    @intensity.setter
    def intensity(self, value: Intensity | None) -> None:
        fixed = self._fixed
        if type(fixed) is _Row:
            fixed.log._intensity[fixed.i] = value
        else:
            self._intensity = value

    @property
    def market_emissions_g(self) -> float | None:
        """Market-based grams CO2e (only with a contractual factor)."""
        fixed = self._fixed
        if type(fixed) is _Row:
            value = fixed.log._floats[fixed.i * _FLOATS + 3]
            return None if value != value else value
        return self._market

    @market_emissions_g.setter
    def market_emissions_g(self, value: float | None) -> None:
        fixed = self._fixed
        if type(fixed) is _Row:
            fixed.log._floats[fixed.i * _FLOATS + 3] = float("nan") if value is None else value
        else:
            self._market = value

    @property
    def offset_s(self) -> float:
        """Seconds from the run's start to this window's opening."""
        fixed = self._fixed
        if fixed is not None:
            return fixed.offset_s
        return (self._open.t_ns - self.run._start.t_ns) / 1e9

    def close(self) -> None:
        """Read the counters at the window's end (idempotent)."""
        if self._end is not None:
            return
        sampler = self.run._sampler
        end = sampler.read_now()
        self._counts1 = self.run._progress.counts()
        self._end = end
        self.duration_s = (end.t_ns - self._open.t_ns) / 1e9
        if self.duration_s < self.run._longest_update_s:
            self._recent_power = sampler.recent_power_w
        self.run.windows.append(self)  # under the log's lock: windows close from any thread

    def counts(self) -> Counts:
        """``(steps, samples, tokens)`` the run counted while this window was open (so far)."""
        return difference(self._counts1 or self.run._progress.counts(), self._counts0)

    def step(self, steps: int = 1, *, samples: int | None = None, tokens: int | None = None) -> None:
        """Count units of work on the run (so in this window and every other one open now)."""
        self.run._progress.add(steps, samples, tokens)

    @property
    def channels(self) -> dict[str, ChannelTotal]:  # type: ignore[override]
        """Per-channel energy over the window (up to now while it is open)."""
        # the edges and recent power first, the cached figures second: another thread that
        # caches them and then drops the edges' counters (below) cannot leave us half of each
        opened, closed, recent = self._open, self._end, self._recent_power or {}
        fixed = self._fixed
        if fixed is not None:
            return _expanded(fixed)
        sampler = self.run._sampler
        end = closed or sampler.read_now()
        chans = _channel_totals(sampler.channels, opened, end)
        duration = (end.t_ns - opened.t_ns) / 1e9
        # Shorter than a channel's hardware update period, the counter difference is
        # mostly quantisation (0 or one whole update); estimate from recent mean power.
        estimated = []
        for name, ch in sampler.channels.items():
            period = update_period(ch)
            if duration < period and name in recent:
                chans[name].energy_j = recent[name] * duration
                estimated.append((name, period, True))
            elif ch.component == "platform" and ch.in_total and duration < 3 * period:  # total.SHORT_PERIODS
                estimated.append((name, period, False))  # a whole-machine meter: measured, its band widened
        # the notes are worded on demand: held as text, 100 k short windows kept ~0.7 KB each
        self._estimated = (duration, tuple(estimated)) if estimated else None
        if closed is not None:
            # figures fixed: kept as two float arrays; the edges' counter copies are no longer
            # needed (a run holding 100 k windows would otherwise keep 200 k of them)
            self._fixed = _Fixed(sampler.channels, chans, (opened.t_ns - self.run._start.t_ns) / 1e9)
            self._open = self._end = _CLOSED
            self._recent_power = None
            return _expanded(self._fixed)
        return chans

    @property
    def estimated(self) -> dict[str, str]:
        """Channel → how its energy was estimated, for channels this window was too short for."""
        self.channels  # noqa: B018 - materialises the figures, filling the estimates
        if self._estimated is None:
            return {}
        duration, found = self._estimated
        return {
            name: f"window ({duration * 1e3:.3g} ms) shorter than the {period * 1e3:.0f} ms update "
            "period: mean power of the last sample interval × duration" if from_power else
            f"window ({duration:.3g} s) shorter than 3 refresh periods ({period:g} s) of the whole-machine "
            "meter: measured, its band widened by one period over the window's length"
            for name, period, from_power in found
        }

    @property
    def emissions_g(self) -> float:  # type: ignore[override]
        """Location-based grams CO2e; NaN until the run's intensity is known."""
        fixed = self._fixed
        if self.intensity is not None and fixed is not None:  # priced and closed: figures fixed
            return sum(g for ch, g in zip(fixed.channels.values(), fixed.emissions, strict=True) if ch.in_total)
        intensity = self.intensity or self.run.intensity
        if intensity is None:
            return float("nan")
        g = window_g_per_kwh(self, intensity)
        return sum(_emissions_g(c.energy_j, g[n], intensity.pue) for n, c in self.channels.items() if c.in_total)

    def price(self, intensity: Intensity) -> None:
        """Fix emissions (per channel too) from ``intensity``, priced as the run's rows it covers."""
        g = window_g_per_kwh(self, intensity)
        chans = self.channels  # worked out (and fixed, once closed) first
        emissions = array("d", [_emissions_g(c.energy_j, g[n], intensity.pue) for n, c in chans.items()])
        market = None
        if intensity.market_g_per_kwh is not None:
            market = _emissions_g(self.energy_j, intensity.market_g_per_kwh, intensity.pue)
        log = self.run.windows
        with log._lock:  # not while the log moves this window's figures into its columns
            fixed = self._fixed
            if fixed is not None:
                fixed.emissions = emissions  # a new array: an expansion of the old figures is not reused
            else:
                for c, e in zip(chans.values(), emissions, strict=True):
                    c.emissions_g = e
            if market is not None:
                self.market_emissions_g = market
            self.intensity = intensity

    def to_dict(self) -> WindowRecord:
        """The window's record (see :class:`wattprint.tracking.record.WindowRecord`)."""
        return {
            **self.totals_dict(),
            "channels": self.channels_dict(),
            "offset_s": self.offset_s,
            "parent": self.parent.name if self.parent is not None else None,
            "estimated": self.estimated,
        }


# -- the run's closed windows -------------------------------------------------------------

_FLOATS = 4  # per row: offset_s, duration_s, start_wall, market emissions (NaN: none)


class WindowLog:
    """A run's closed windows in the order they closed: ``append``, ``len``, index, slice, iterate.

    The newest :attr:`KEEP` to ``2 × KEEP`` are held as the :class:`Window` objects
    that closed; older ones are moved, a batch at a time, into columns (float
    arrays, and lists of references to shared names and intensities): ~0.15 KB a
    window instead of ~0.6 KB, so a run with 100 k windows holds ~15 MB, not 60+.
    Reading an older one gives a new :class:`Window` over its row, with the same
    figures (a ``Window`` object kept by the program reads and prices the same row);
    its ``parent`` is known by name only.
    """

    KEEP = 512

    def __init__(self, run: Run, channels: dict[str, Channel]) -> None:
        self.run = run
        self.channels = channels
        self._n = len(channels)
        self._recent: list[Window] = []
        self._base = 0  # index of _recent[0]: the rows below it are in the columns
        self._lock = threading.Lock()
        self._names: list[str] = []
        self._parents: list[str | None] = []
        self._intensity: list[Intensity | None] = []
        self._floats = array("d")
        self._energy = array("d")
        self._emissions = array("d")
        self._counts = array("q")
        self._estimated: dict[int, tuple[float, tuple[tuple[str, float, bool], ...]]] = {}  # rows that have any
        self._bands: dict[int, dict[str, float]] = {}  # rows with a band not their channel's

    def append(self, window: Window) -> None:
        with self._lock:
            window._index = self._base + len(self._recent)
            self._recent.append(window)
            if len(self._recent) >= 2 * self.KEEP:
                self._compact(len(self._recent) - self.KEEP)

    def __len__(self) -> int:
        return self._base + len(self._recent)

    def _compact(self, k: int) -> None:
        """Move the oldest ``k`` held windows into the columns (under the lock)."""
        for w in self._recent[:k]:
            w.channels  # noqa: B018 - fixes the figures (they depend only on the window's edges)
            fixed = w._fixed
            assert fixed is not None
            i = len(self._names)
            self._names.append(w.name)
            self._parents.append(w.parent.name if w.parent is not None else None)
            self._intensity.append(w._intensity)
            self._floats.extend((fixed.offset_s, w.duration_s, w.start_wall,
                                 float("nan") if w._market is None else w._market))
            self._energy.extend(fixed.energy)
            self._emissions.extend(fixed.emissions)
            self._counts.extend(w.counts())
            if w._estimated is not None:
                self._estimated[i] = w._estimated
            if fixed.bands is not None:
                self._bands[i] = fixed.bands
            w._fixed = _Row(self, i)  # a window the program kept now reads the row
            w.parent = _named(w.parent)  # and no longer keeps its parent (and its parent's) alive
        del self._recent[:k]
        self._base += k

    def _view(self, i: int) -> Window:
        w = Window.__new__(Window)
        f = self._floats
        w.run, w.name, w._index = self.run, self._names[i], i
        parent = self._parents[i]
        w.parent = None if parent is None else _name_only(parent)
        c = self._counts
        w._counts0, w._counts1 = (0, 0, 0), (c[3 * i], c[3 * i + 1], c[3 * i + 2])
        w._open = w._end = _CLOSED
        w._fixed, w._recent_power, w._token = _Row(self, i), None, None
        w.start_wall, w.duration_s = f[i * _FLOATS + 2], f[i * _FLOATS + 1]
        w._intensity = w._market = None
        w._estimated = self._estimated.get(i)
        return w

    if TYPE_CHECKING:
        @overload
        def __getitem__(self, key: int) -> Window: ...
        @overload
        def __getitem__(self, key: slice) -> list[Window]: ...

    def __getitem__(self, key: int | slice) -> Window | list[Window]:
        with self._lock:
            base, recent = self._base, list(self._recent)
        n = base + len(recent)
        if isinstance(key, slice):
            return [self._view(i) if i < base else recent[i - base] for i in range(*key.indices(n))]
        i = key + n if key < 0 else key
        if not 0 <= i < n:
            raise IndexError("window index out of range")
        return self._view(i) if i < base else recent[i - base]

    def __iter__(self) -> Iterator[Window]:
        with self._lock:
            base, recent = self._base, list(self._recent)
        for i in range(base):
            yield self._view(i)
        yield from recent

    def __repr__(self) -> str:
        return f"<{len(self)} windows, {self._base} in columns>"


def _name_only(name: str) -> Window:
    """A compacted window's parent: a ``Window`` that knows only its name."""
    w = Window.__new__(Window)
    w.name, w.parent = name, None
    return w


def _named(parent: Window | None) -> Window | None:
    return None if parent is None else _name_only(parent.name)
