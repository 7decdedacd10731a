"""The sensor protocol: how hardware becomes cumulative energy per channel.

A *sensor* owns one or more *channels* (``cpu:package-0``, ``dram:package-0``,
``gpu:GPU-<uuid>``, ``ram`` ...). Each channel says how its figure is known
(:class:`Method`) and how sure we are (a relative uncertainty band, 0.05 means
±5 %).

A sensor's :meth:`Sensor.read` returns, per channel, either

* a cumulative energy in joules (``Kind.ENERGY``): hardware counters, already
  wrap-corrected inside the sensor, and models that integrate their own
  estimate; or
* an instantaneous power in watts (``Kind.POWER``): the sampler integrates
  these (trapezoid) into the same cumulative form, so everything above the
  sampler sees one kind of series.

Sensors must be cheap to read (keep files open, no allocation-heavy work) and
thread-compatible: the sampler serialises all calls to one sensor under its
own lock, so a sensor needs no locking of its own.

Your own sensor (a wall-plug meter, a PDU, a lab instrument) subclasses
:class:`Sensor` and is passed, or a factory that returns it, in
``Tracker(sensors=["rapl", "nvml", MyMeter])``. It keeps the contract every
built-in sensor passes (``tests/test_sensor_contract.py``): channels with
name, component, method, kind and band; ``read()`` gives cumulative joules
that never fall (counters unwrapped inside the sensor) or watts ≥ 0; a fault
it can name goes in ``faults`` rather than out as an exception; ``close()``
may be called twice. A sensor passed as an instance is closed when the last
run using it stops: pass a factory to open a fresh one per run. Channel names
must not repeat a built-in sensor's (that sensor would be counted twice, so
the later one is refused with a doctor line).

This module imports nothing outside the standard library.
"""

from __future__ import annotations

import enum

from wattprint._record import FrozenRecord
from wattprint.errors import SensorError  # noqa: F401 - re-exported: raised by sensors


class Method(str, enum.Enum):
    """How a channel's energy is known, from best to worst."""

    COUNTER = "counter"
    POWER_INTEGRATED = "power-integrated"
    MODELLED = "modelled"

    def __str__(self) -> str:  # so f-strings print "counter", not "Method.COUNTER"
        return self.value


class Kind(str, enum.Enum):
    """What a channel's raw reading is."""

    ENERGY = "energy"  # cumulative joules since the sensor was opened (or any fixed origin)
    POWER = "power"  # instantaneous watts, to be integrated by the sampler


class Channel(FrozenRecord):
    """Static description of one readable consumer.

    ``component`` groups channels for summaries ("cpu", "dram", "gpu", "ram",
    "psys"). ``in_total`` is False for channels that overlap others (``psys``
    covers the whole platform and must never be added to the packages).
    ``band`` is the relative uncertainty (0.05 = ±5 %). ``update_s`` is how
    often the underlying figure changes (about 1 ms for RAPL, 100 ms for NVML);
    windows shorter than that are estimated and flagged. None: use the default
    for the channel's kind (see :func:`update_period`).
    """

    __slots__ = ("name", "component", "method", "kind", "band", "in_total", "detail", "update_s", "device")
    name: str
    component: str
    method: Method
    kind: Kind
    band: float
    in_total: bool
    detail: str
    update_s: float | None
    device: str  # hardware model name ("NVIDIA H100 80GB HBM3"), recorded with runs

    def __init__(
        self,
        name: str,
        component: str,
        method: Method,
        kind: Kind,
        band: float,
        in_total: bool = True,
        detail: str = "",
        update_s: float | None = None,
        device: str = "",
    ) -> None:
        super().__init__(name, component, method, kind, band, in_total, detail, update_s, device)


# How often a channel's figure is refreshed by the hardware (or our model), when the
# sensor does not say: RAPL counters update about every millisecond (Intel SDM; Khan
# et al. 2018), NVML power and energy about every 100 ms on recent GPUs (Yang et al.
# 2024), psutil CPU times at the kernel's 100 Hz clock tick; constant models never
# change, so any window is as good as the model.
_DEFAULT_UPDATE_S = {"cpu": 0.001, "dram": 0.001, "psys": 0.001, "gpu": 0.1}


def update_period(channel: Channel) -> float:
    """Seconds between hardware updates of ``channel`` (0: continuous / constant)."""
    if channel.update_s is not None:
        return channel.update_s
    if channel.method is Method.MODELLED:
        return 0.01 if channel.component == "cpu" else 0.0
    return _DEFAULT_UPDATE_S.get(channel.component, 0.1 if channel.kind is Kind.POWER else 0.001)


class Availability(FrozenRecord):
    """One line of ``wattprint doctor``: a sensor (or one device) and why it is or is not used."""

    __slots__ = ("sensor", "available", "detail", "fix")
    sensor: str
    available: bool
    detail: str
    fix: str

    def __init__(self, sensor: str, available: bool, detail: str, fix: str = "") -> None:
        super().__init__(sensor, available, detail, fix)


class Sensor:
    """Base class for sensors. Subclasses fill ``channels`` and implement :meth:`read`.

    ``max_interval_s`` is the longest the sampler may wait between two reads
    without risking a missed counter wrap (``None``: no limit).

    ``faults`` collects channel-level problems found while reading (a GPU that
    vanished, a counter that stopped). The sampler drains it after each read
    and records each fault in the runs; a channel named in a fault and absent
    from later readings keeps its last total. ``notes`` collects non-fatal
    events (a counter reset), recorded the same way while the channel goes on.
    """

    # class-level defaults, so a subclass that skips __init__ still reads as "nothing to report"
    faults: list[tuple[str, str]]
    notes: list[tuple[str, str]] | tuple[()] = ()

    def __init__(
        self,
        name: str = "sensor",
        channels: list[Channel] | None = None,
        max_interval_s: float | None = None,
        faults: list[tuple[str, str]] | None = None,
    ) -> None:
        self.name = name
        self.channels: list[Channel] = channels if channels is not None else []
        self.max_interval_s = max_interval_s
        self.faults: list[tuple[str, str]] = faults if faults is not None else []  # (channel, message)
        self.notes: list[tuple[str, str]] = []  # (channel, message)

    def read(self) -> dict[str, float]:
        """Return channel name → cumulative J (ENERGY) or W (POWER). May omit lost channels."""
        raise NotImplementedError

    def read_raw(self) -> object:
        """The part of a reading that must happen now; :meth:`settle` makes it a :meth:`read`
        result later, readings in the order they were taken, never two at once (the sampler
        defers the rest while no one needs the figures: see ``tracking/sampler.py``).

        The default does the whole read now. A sensor whose reading is cheap to take but
        costly to interpret (RAPL: the counters' bytes, then their parsing and unwrapping)
        takes only the bytes here, with no change to its state.
        """
        return self.read()

    def settle(self, raw: object) -> dict[str, float]:
        """What :meth:`read` would have returned for ``raw`` (from :meth:`read_raw`)."""
        return raw  # type: ignore[return-value]  # the default read_raw is the whole read

    def close(self) -> None:
        """Release files and library handles. Must not raise."""

    def describe(self) -> list[Availability]:
        """Doctor lines for this sensor (default: one line per channel)."""
        return [
            Availability(self.name, True, f"{c.name}: {c.method} (±{c.band:.0%}) {c.detail}".strip())
            for c in self.channels
        ]
