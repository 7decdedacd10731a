"""The run's total from a whole-machine meter, with the components standing in while it is down.

A meter fails mid-run: an hwmon file that vanishes or answers EIO, an
``ipmitool`` that starts failing or timing out, a BMC that answers 500 or
nothing. Left alone, the run's total (the meter's channel) would stop growing
while the job goes on drawing power. :class:`MeteredTotal` wraps the meter's
sensor and is read *last* in each sampler read (after the components, whose
running totals the sampler hands it through :meth:`MeteredTotal.bind_totals`,
as it does for the rest-of-platform model). For each step between two reads:

* the meter gave a fresh figure at both ends: the step is **metered** (the
  trapezoid of its two powers, or its energy counter's difference);
* otherwise the step **falls back**: the components' energy over the step
  (what they measured between the same two reads), plus the modelled rest of
  the platform when the model is on.

So the total's cumulative joules never fall, and no span is counted twice:
when the meter comes back, the step that spans the outage (whose meter
difference would re-count the gap) is still a fallback step; metering resumes
from the next one. The fallback energy is also its own channel,
``platform:fallback`` (not added: it is inside the total), so every timeline
interval says how much of it stood in; :meth:`MeteredTotal.spans` gives the
seconds and the number of fallback spans inside any span of the run.

The band of a span (:func:`span_band`): the meter's band on its metered part,
the components' on the fallback part, plus one refresh period of the meter over
the span's length for the lag of its edges (derivation in ``docs/whole-machine.md``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from wattprint.sensors.base import Availability, Channel, Kind, Method, Sensor, update_period

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["FALLBACK", "FALLBACK_COMPONENT", "SHORT_PERIODS", "MeteredTotal", "span_band", "span_facts", "widen"]

FALLBACK = "platform:fallback"
FALLBACK_COMPONENT = "platform-fallback"
SHORT_PERIODS = 3  # a span shorter than this many refresh periods of the meter is flagged as short
EDGE_MAX = 1.0  # the edges' part of the band never exceeds ±100 %
MAX_CHANGES = 4096  # state changes kept for spans(); a meter flapping more often keeps the newest


class MeteredTotal(Sensor):
    """The elected whole-machine channel of ``inner``, as cumulative joules with a fallback.

    ``watched``: the component channels whose sum stands in; ``rest``: the modelled
    rest of the platform in W for a components' power in W (None: model off);
    ``fallback_band``, ``fallback_method``: the band and the weakest method of the stand-in
    figure. ``clock`` gives monotonic nanoseconds (the sampler's clock, so :meth:`spans` lines up with its snapshots).
    The inner sensor is read through this one only (close, describe, faults and notes included).
    """

    def __init__(
        self,
        inner: Sensor,
        chosen: str,
        watched: list[str],
        *,
        rest: Callable[[float], float] | None = None,
        fallback_band: float = 0.1,
        fallback_method: Method = Method.COUNTER,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        super().__init__(name=inner.name, max_interval_s=inner.max_interval_s)
        self.inner, self.chosen = inner, chosen
        self._watched = tuple(watched)
        self._rest = rest
        self.clock = clock  # the sampler's clock (tests hand both the same fake one)
        meter = next(c for c in inner.channels if c.name == chosen)
        self._power = meter.kind is Kind.POWER
        self.refresh_s = update_period(meter)
        stand_in = "the components" + (" + the modelled rest of the platform" if rest else "")
        self.channels = [
            Channel(c.name, c.component, c.method, Kind.ENERGY, c.band, True,
                    f"{c.detail}; while it gives no reading, {stand_in} stand in", self.refresh_s, c.device)
            if c.name == chosen else c
            for c in inner.channels
        ]
        self.channels.append(Channel(
            FALLBACK, FALLBACK_COMPONENT, Method.MODELLED if rest else fallback_method, Kind.ENERGY,
            fallback_band, False, f"energy of the spans where {chosen} gave no reading: {stand_in} "
            "(inside the total, not added)", 0.0))
        self._totals: Mapping[str, float] = {}
        self._t: int | None = None  # clock at the last read
        self._comp = 0.0  # Σ watched J at the last read
        self._last: float | None = None  # the meter's W (or cumulative J) at the last read, None: no reading
        self.total_j = 0.0
        self.fallback_j = 0.0
        self._changes: list[tuple[int, bool]] = []  # (clock, down) at each switch, oldest first
        self._down_before = False  # the state before the first kept change
        self._why = ""

    def bind_totals(self, totals: Mapping[str, float]) -> None:
        """The sampler's running totals (J per channel), read after every other sensor."""
        self._totals = totals

    @property
    def down(self) -> bool:
        """Whether the last read had no meter reading (the components stand in)."""
        return self._changes[-1][1] if self._changes else self._down_before

    def _meter(self) -> tuple[dict[str, float], float | None]:
        """The inner sensor's reading, and the chosen channel's value (None: no reading now)."""
        try:
            raw = self.inner.read()
        except Exception as exc:  # a meter's failure means falling back, never losing the run's total
            raw, self._why = {}, f"{type(exc).__name__}: {exc}"
        for channel, message in self.inner.faults:  # the chosen channel's faults end nothing: it falls back
            if channel == self.chosen:
                self._why = message
            else:
                self.faults.append((channel, message))
        self.inner.faults.clear()
        if self.inner.notes:
            self.notes = [*self.notes, *self.inner.notes]
            self.inner.notes = []
        value = raw.pop(self.chosen, None)
        if value is not None and not (value >= 0.0 and value != float("inf")):  # NaN, negative, inf
            self._why, value = f"{self.chosen} read {value}", None
        return raw, value

    def read(self) -> dict[str, float]:
        now = self.clock()
        comp = sum(self._totals.get(n, 0.0) for n in self._watched)
        raw, value = self._meter()
        if self._t is not None and now > self._t:
            dt = (now - self._t) / 1e9
            if value is not None and self._last is not None:
                self.total_j += (0.5 * (self._last + value) * dt if self._power else max(0.0, value - self._last))
            else:
                part = max(0.0, comp - self._comp)
                if self._rest is not None:
                    part += self._rest(part / dt) * dt
                self.total_j += part
                self.fallback_j += part
        # the fallback spans the steps it covered: from the last reading before the meter went down
        # to the first one after it came back
        down = value is None
        self._switch(self._t if down and self._t is not None else now, down)
        self._t, self._comp, self._last = now, comp, value
        raw[self.chosen] = self.total_j
        raw[FALLBACK] = self.fallback_j
        return raw

    def _switch(self, now: int, down: bool) -> None:
        if down == self.down:  # the meter counts as up before the first read
            return
        if down:
            why = f" ({self._why})" if self._why else ""
            msg = f"no reading{why}: the components stand in for the run's total until it is back"
        else:
            msg = "readings are back: the run's total is metered again"
        self.notes = [*self.notes, (self.chosen, msg)]
        self._changes.append((now, down))
        if len(self._changes) > MAX_CHANGES:
            self._down_before = self._changes.pop(0)[1]

    def spans(self, t0_ns: int, t1_ns: int) -> tuple[float, int]:
        """Seconds the meter was down between ``t0_ns`` and ``t1_ns``, and how many spans that was."""
        down, i = self._down_before, 0
        changes = list(self._changes)  # a copy: the sampler thread may append meanwhile
        while i < len(changes) and changes[i][0] <= t0_ns:
            down = changes[i][1]
            i += 1
        seconds, count, at = 0.0, int(down), t0_ns
        for t, state in changes[i:]:
            if t >= t1_ns:
                break
            if state:
                count, at = count + 1, t
            else:
                seconds += (t - at) / 1e9
            down = state
        if down:
            seconds += (t1_ns - at) / 1e9
        return seconds, count

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> list[Availability]:
        return self.inner.describe()


def span_band(meter: Channel, energy_j: float, fallback_j: float, fallback_band: float,
              duration_s: float) -> tuple[float, float]:
    """The band of the whole-machine total over a span, and the part its edges add.

    Metered part at the meter's band, fallback part at ``fallback_band``, plus
    ``refresh / duration`` of the metered part: a meter that refreshes every
    ``refresh`` seconds (or averages over that window) may show, at each edge of
    the span, power from up to one period outside it; at most one period's worth
    at the mean power over both edges together, relative to the span's energy. At most
    ±100 % (:data:`EDGE_MAX`): a span shorter than one period is an estimate from recent mean
    power (flagged as such), not a difference of the meter's readings.
    """
    if energy_j <= 0.0:
        return meter.band, 0.0
    fb = min(max(fallback_j, 0.0), energy_j)
    metered = energy_j - fb
    edge = min(EDGE_MAX, update_period(meter) / duration_s) if duration_s > 0 else EDGE_MAX
    edge *= metered / energy_j
    return (metered * meter.band + fb * fallback_band) / energy_j + edge, edge


def _fallback(spans: Mapping[str, Any]) -> tuple[float, float]:
    fb = spans.get(FALLBACK)
    return (float(fb.energy_j), float(fb.band)) if fb is not None else (0.0, 0.0)


def widen(total: Any, meter: Channel, spans: Mapping[str, Any], duration_s: float) -> float:
    """Set ``total.band`` (a span's figure of the elected channel: ``band``, ``energy_j``) to
    :func:`span_band` for a span of ``duration_s``; ``spans`` holds the span's other channels
    (the fallback's among them). Returns the part the edges add. A zero-length span is left as it is."""
    if duration_s <= 0:
        return 0.0
    total.band, edge = span_band(meter, float(total.energy_j), *_fallback(spans), duration_s)
    return edge


def span_facts(sensors: Sequence[Sensor], t0_ns: int, duration_s: float,
               spans: Mapping[str, Any]) -> dict[str, Any] | None:
    """What a span of the run (``t0_ns`` on the sampler's clock, ``duration_s`` long) says of its
    whole-machine total: metered and fallback seconds, fallback spans, the edges' band, short or not.
    None when no whole-machine meter is the total. ``spans``: the span's figures per channel."""
    guard = next((s for s in sensors if isinstance(s, MeteredTotal)), None)
    if guard is None or guard.chosen not in spans:
        return None
    fallback_s, count = guard.spans(t0_ns, t0_ns + int(duration_s * 1e9))
    fallback_s = min(fallback_s, duration_s)
    meter = next(c for c in guard.channels if c.name == guard.chosen)
    energy_j = float(spans[guard.chosen].energy_j)
    edge = span_band(meter, energy_j, *_fallback(spans), duration_s)[1] if duration_s > 0 else 0.0
    return {"channel": guard.chosen, "refresh_s": guard.refresh_s, "metered_s": max(0.0, duration_s - fallback_s),
            "fallback_s": fallback_s, "fallback_spans": count, "edge_band": edge,
            "short": duration_s < SHORT_PERIODS * guard.refresh_s}
