"""Windows: named sub-spans of a run, figures from counter reads at their edges.

``with run.window("eval"):`` or ``w = run.open_window("eval"); ...; w.close()``.
Windows nest and overlap; their energy is the difference of totals read
fresh at their edges (and the units of work the run counted in between), so
opening one costs one read of the counters, not a thread. Split from
:mod:`wattprint.tracking.run`, which creates them.
"""

from __future__ import annotations

import contextvars
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
    from wattprint.tracking.record import WindowRecord
    from wattprint.tracking.run import Run


# -- spans ----------------------------------------------------------------------------


def _total(name: str, ch: Channel, energy_j: float, emissions_g: float = 0.0) -> ChannelTotal:
    return ChannelTotal(name, ch.component, str(ch.method), ch.band, energy_j, ch.in_total, ch.detail, emissions_g)


def _channel_totals(
    channels: dict[str, Channel], a: Snapshot, b: Snapshot
) -> dict[str, ChannelTotal]:
    return {name: _total(name, ch, max(0.0, b.totals.get(name, 0.0) - a.totals.get(name, 0.0)))
            for name, ch in channels.items()}


class _Fixed:
    """A closed window's figures, once fixed: two float arrays in the order of the sampler's
    channels (whose metadata every window shares). ~0.2 KB where a dict of ``ChannelTotal``
    objects and the edges' snapshots took ~1 KB, for runs that hold 100 k windows."""

    __slots__ = ("channels", "energy", "emissions", "offset_s")

    def __init__(self, channels: dict[str, Channel], chans: dict[str, ChannelTotal], offset_s: float) -> None:
        self.channels = channels
        self.energy = array("d", [c.energy_j for c in chans.values()])
        self.emissions = array("d", [c.emissions_g for c in chans.values()])
        self.offset_s = offset_s

    def expand(self) -> dict[str, ChannelTotal]:
        return {name: _total(name, ch, e, g)
                for (name, ch), e, g in zip(self.channels.items(), self.energy, self.emissions, strict=True)}


# The last expansion, reused while its window's figures stay the same: a record (to_dict)
# reads the channels five times. One slot, replaced whole (safe from any thread).
_last: tuple[_Fixed, array[float], dict[str, ChannelTotal]] | None = None


def _expanded(fixed: _Fixed) -> dict[str, ChannelTotal]:
    global _last
    last = _last
    if last is not None and last[0] is fixed and last[1] is fixed.emissions:
        return last[2]
    chans = fixed.expand()
    _last = (fixed, fixed.emissions, chans)
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
        self._fixed: _Fixed | None = None  # the figures once closed and worked out
        self._recent_power: dict[str, float] | None = None
        self._token: contextvars.Token[Window | None] | None = None
        self.start_wall = self._open.wall
        self.duration_s = 0.0
        self.intensity: Intensity | None = None
        self.market_emissions_g: float | None = None
        self._estimated: tuple[float, tuple[tuple[str, float], ...]] | None = None  # duration, (channel, period)

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
        self.run.windows.append(self)  # list.append is atomic: windows close from any thread

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
                estimated.append((name, period))
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
            "period: mean power of the last sample interval × duration"
            for name, period in found
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
        fixed = self._fixed
        if fixed is not None:
            fixed.emissions = emissions  # a new array: an expansion of the old figures is not reused
        else:
            for c, e in zip(chans.values(), emissions, strict=True):
                c.emissions_g = e
        if intensity.market_g_per_kwh is not None:
            self.market_emissions_g = _emissions_g(self.energy_j, intensity.market_g_per_kwh, intensity.pue)
        self.intensity = intensity

    def to_dict(self) -> WindowRecord:
        """The window's record (see :class:`wattprint.tracking.record.WindowRecord`)."""
        return {
            **self.totals_dict(),
            "channels": self.channels_dict(),
            "offset_s": self.offset_s,
            "parent": self.parent.name if self.parent else None,
            "estimated": self.estimated,
        }
