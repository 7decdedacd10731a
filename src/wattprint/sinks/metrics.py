"""What the metric exporters publish about a run, and which of them the settings ask for.

The Prometheus sink (:mod:`wattprint.sinks.prometheus`) and the OTLP sink
(:mod:`wattprint.sinks.otlp`) publish the same figures, read from the run when
they are scraped or sent, never on the sampler thread:

* per channel: cumulative energy (J) and emissions (g CO2e) since the run
  started, the power (W) over the last timeline interval, the channel's
  method (``counter``, ``power-integrated``, ``modelled``), its uncertainty
  band and whether it counts in the run's total (``psys`` and the ``core``
  sub-zones do not: summing every channel would count them twice);
* the grid intensity in use (g/kWh) with its source and location, and the PUE.

:class:`RunView` is that reading. Energy and emissions are published as
counters, so a value never goes down: a running emission figure that the
run re-prices (the intensity arrived after some rows were merged) is held at
its highest value until the figures pass it again. A figure that is not
known yet is left out, never published as a zero (no power before the first
interval, no emissions before the intensity).

:class:`Courier` is an exporter's own thread for pushes and exports: the
sampler thread only wakes it; a failing endpoint costs one fault per streak
and never the job.
"""

from __future__ import annotations

import threading
import time

from wattprint._record import Record
from wattprint._threads import new_thread
from wattprint.sinks.base import Sink, record_fault

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from wattprint.intensity.base import Intensity
    from wattprint.settings import Settings
    from wattprint.tracking.measure import Interval
    from wattprint.tracking.run import Run

# tags that become the ``job_id`` and ``rank`` labels (``job`` itself is Prometheus' own target label)
JOB_TAG, RANK_TAG = "job", "rank"


class ChannelPoint(Record):
    """One channel's figures at the moment of reading."""

    __slots__ = ("name", "component", "method", "in_total", "band", "energy_j", "emissions_g", "power_w")

    def __init__(self, name: str, component: str, method: str, in_total: bool, band: float,
                 energy_j: float, emissions_g: float | None, power_w: float | None) -> None:
        self.name = name
        self.component = component
        self.method = method
        self.in_total = in_total
        self.band = band
        self.energy_j = energy_j
        self.emissions_g = emissions_g  # None: the intensity is not known yet
        self.power_w = power_w  # None: no interval has closed yet


class RunView:
    """A run's figures as the exporters publish them (thread-safe; see the module doc).

    ``run_labels=False`` leaves the run's identity out (the ``wattprint
    exporter`` agent: one series per channel for the life of the machine).
    """

    def __init__(self, run: Run, *, run_labels: bool = True) -> None:
        self.run = run
        self.run_labels = run_labels
        self._last: Interval | None = None
        self._high: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def note_interval(self, interval: Interval) -> None:
        """The sink's ``interval`` hook (sampler thread): one assignment."""
        self._last = interval

    def identity(self) -> dict[str, str]:
        """The labels that say whose figures these are: host, and the run, job and rank when shown."""
        run = self.run
        out = {"host": run.host}
        if self.run_labels:
            out["run"] = run.id
            for label, tag in (("job_id", JOB_TAG), ("rank", RANK_TAG)):
                if run.tags.get(tag):
                    out[label] = str(run.tags[tag])
        return out

    def _monotonic(self, what: str, channel: str, value: float) -> float:
        key = (what, channel)
        high = max(value, self._high.get(key, 0.0))
        self._high[key] = high
        return high

    def channels(self) -> list[ChannelPoint]:
        """Every channel's figures now (energy and emissions never below what was published)."""
        run, last = self.run, self._last
        priced = run.intensity is not None
        span = (last.t1_s - last.t0_s) if last is not None else 0.0
        out = []
        with self._lock:
            for c in list(run.channels.values()):  # replaced whole at the end: take one of them
                power = last.energy_j.get(c.name) if last is not None and span > 0 else None
                out.append(ChannelPoint(
                    c.name, c.component, c.method, c.in_total, c.band,
                    self._monotonic("energy", c.name, c.energy_j),
                    self._monotonic("emissions", c.name, c.emissions_g) if priced else None,
                    None if power is None else power / span,
                ))
        return out

    @property
    def intensity(self) -> Intensity | None:
        return self.run.intensity

    def intensity_now(self) -> tuple[float, str] | None:
        """(g/kWh in use now, its source), or None while it is being resolved."""
        intensity = self.run.intensity
        if intensity is None:
            return None
        now = time.time()
        g = intensity.at(now)
        live = intensity.series and intensity.live_source and g != intensity.g_per_kwh
        return g, str(intensity.live_source if live else intensity.source)


class Courier:
    """An exporter's own thread: ``send(final)`` when woken, the last time from :meth:`finish`.

    ``send`` raises on failure. The first failure of a streak is recorded as a
    fault of the run (``source``), so an endpoint that stays down is one line,
    not one per flush; a failed final send is always recorded.
    """

    def __init__(self, run: Run, source: str, what: str, send: Callable[[bool], None]) -> None:
        self.run, self.source, self.what, self._send = run, source, what, send
        self._wake = threading.Lock()
        self._wake.acquire()
        self._final = self._stop = False
        self._failing = False
        self.sent = 0  # successful sends, for tests and benchmarks
        self._thread = new_thread(self._loop, f"wattprint-{source.replace(':', '-')}")
        self._thread.start()

    def wake(self) -> None:
        """Ask for a send (from any thread, the sampler's included): never blocks."""
        try:
            self._wake.release()
        except RuntimeError:  # a send is already asked for
            pass

    def _loop(self) -> None:
        while True:
            self._wake.acquire()
            if self._stop:
                return
            final = self._final
            try:
                self._send(final)
                self.sent += 1
                self._failing = False
            except Exception as exc:
                from wattprint.privacy import mask_text

                if final or not self._failing:
                    again = "" if final else "; retried at the next flush"
                    record_fault(self.run, self.source,
                                 mask_text(f"{'final ' if final else ''}{self.what} failed: {exc}{again}"))
                self._failing = True
            if final:
                return

    def finish(self, wait_s: float) -> None:
        """The last send, waited for at most ``wait_s`` (then it goes on while the process lives)."""
        self._final = True
        self.wake()
        self._thread.join(wait_s)
        if self._thread.is_alive():
            record_fault(self.run, self.source, f"final {self.what} still pending after {wait_s:g} s")

    def stop(self) -> None:
        """End the thread without a last send (a dropped sink); never waits."""
        if not self._final:
            self._stop = True
            self.wake()


class ExporterSink(Sink):
    """The hooks the metric sinks share: each interval noted (for power), the courier woken at
    every flush, its last send at the end (at most ``final_wait_s``), and stopped at close."""

    view: RunView | None = None
    courier: Courier | None = None
    final_wait_s = 3.0

    def interval(self, run: Run, interval: Interval) -> None:
        if self.view is not None:
            self.view.note_interval(interval)

    def flushed(self, run: Run) -> None:
        if self.courier is not None:
            self.courier.wake()

    def finished(self, run: Run) -> None:
        if self.courier is not None:
            self.courier.finish(self.final_wait_s)

    def close(self) -> None:
        if self.courier is not None:
            self.courier.stop()


def exporter_sinks(settings: Settings) -> list[Sink]:
    """New sinks for the exporters the settings ask for (none when none is set).

    A missing optional package is a :class:`~wattprint.errors.ConfigError`
    naming the extra to install, so the Tracker fails before the work starts.
    """
    get = settings.get
    sinks: list[Sink] = []
    if get("prometheus_port") is not None or get("prometheus_pushgateway") is not None:
        from wattprint.sinks.prometheus import PrometheusSink

        sinks.append(PrometheusSink(
            port=get("prometheus_port"), address=get("prometheus_address"),
            pushgateway=get("prometheus_pushgateway"), job=get("pushgateway_job"),
            keep=bool(get("pushgateway_keep")), timeout_s=get("exporter_timeout_s"),
        ))
    if get("otlp_endpoint") is not None:
        from wattprint.sinks.otlp import OtlpSink

        sinks.append(OtlpSink(get("otlp_endpoint"), service_name=get("otlp_service_name"),
                              timeout_s=get("exporter_timeout_s")))
    return sinks


def need_extra(module: str, extra: str, what: str) -> None:
    """A ConfigError naming the extra when ``module`` cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        from wattprint.errors import ConfigError

        raise ConfigError(f"{what} needs the '{extra}' extra: pip install 'wattprint[{extra}]'")
