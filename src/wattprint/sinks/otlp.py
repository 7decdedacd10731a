"""The ``otlp`` sink: a run's energy as OpenTelemetry metrics over OTLP/HTTP.

Built on the OpenTelemetry SDK and its OTLP/HTTP protobuf exporter (the
``otlp`` extra), so an OpenTelemetry Collector, or Prometheus' own OTLP
receiver, takes it like any other application's metrics. Instruments (the
figures of :mod:`wattprint.sinks.metrics`, cumulative temporality)::

    wattprint.energy          monotonic counter   J       per channel
    wattprint.emissions       monotonic counter   g       per channel (location-based CO2e)
    wattprint.power           gauge               W       per channel, over the last interval
    wattprint.grid.intensity  gauge               g/kW.h  with wattprint.intensity.source, .location
    wattprint.pue             gauge               1

Channel attributes: ``wattprint.channel``, ``wattprint.component``,
``wattprint.method``, ``wattprint.in_total``. The resource follows the
semantic conventions: ``service.name`` (``otlp_service_name``, default
``wattprint``), ``service.instance.id`` (the run id), ``host.name``,
``process.pid``, plus ``wattprint.run.name`` and, from the run's tags,
``wattprint.job.id`` and ``wattprint.rank``; the SDK adds ``telemetry.sdk.*``
and what ``OTEL_RESOURCE_ATTRIBUTES`` says.

Metrics are collected and exported on the sink's own thread at every flush
and once more at the end (each export bounded by ``timeout_s``, retries
included); a failing endpoint costs one fault per streak, never the job.
"""

from __future__ import annotations

from wattprint.sinks.metrics import Courier, ExporterSink, RunView, need_extra
from wattprint.version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from wattprint.tracking.run import Run

METRICS_PATH = "/v1/metrics"
COURIER_THREAD = "wattprint-sink-otlp"  # Courier's name for the thread of source "sink:otlp"
_quieted = False


def _quiet_own_exports() -> None:
    """Keep the SDK's failed-export log lines of *our* exports off stderr (a fault records them).

    A filter on the exporter's logger drops only records logged from this sink's
    threads; the program's own OpenTelemetry exports log as they always do.
    """
    global _quieted
    if _quieted:
        return
    import logging

    class OwnThreads(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not (record.threadName or "").startswith(COURIER_THREAD)

    for name in ("opentelemetry.exporter.otlp.proto.http.metric_exporter", "opentelemetry.exporter.otlp.common.http"):
        logging.getLogger(name).addFilter(OwnThreads())
    _quieted = True


def metrics_url(endpoint: str) -> str:
    """The OTLP/HTTP metrics URL for ``endpoint``: a base URL gets ``/v1/metrics`` appended."""
    base = endpoint.rstrip("/")
    return base if base.endswith(METRICS_PATH) else base + METRICS_PATH


def resource_attributes(run: Run, service_name: str) -> dict[str, str | int]:
    """The run's resource attributes (OpenTelemetry semantic conventions, then ``wattprint.*``)."""
    attrs: dict[str, str | int] = {
        "service.name": service_name,
        "service.instance.id": run.id,
        "host.name": run.host,
        "process.pid": run.pid,
        "wattprint.run.name": run.name,
        "wattprint.version": __version__,
    }
    for key, tag in (("wattprint.job.id", "job"), ("wattprint.rank", "rank")):
        if run.tags.get(tag):
            attrs[key] = str(run.tags[tag])
    return attrs


class OtlpSink(ExporterSink):
    """Send a run's metrics to an OTLP/HTTP ``endpoint`` (``http://collector:4318``)."""

    name = "otlp"

    def __init__(self, endpoint: str, *, service_name: str = "wattprint", timeout_s: float = 2.0) -> None:
        need_extra("opentelemetry.sdk", "otlp", "the OTLP exporter")
        need_extra("opentelemetry.exporter.otlp.proto.http", "otlp", "the OTLP exporter")
        self.url = metrics_url(endpoint)
        self.service_name = service_name
        self.timeout_s = timeout_s
        self.final_wait_s = timeout_s + 1.0
        self._reader: Any = None
        self._provider: Any = None
        self._exporter: Any = None

    def started(self, run: Run) -> None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.resources import Resource

        _quiet_own_exports()
        self.view = RunView(run)
        # collected on demand, exported by our own thread: no SDK thread, no atexit hook of the SDK's
        self._reader = InMemoryMetricReader()
        self._provider = MeterProvider(resource=Resource.create(resource_attributes(run, self.service_name)),
                                       metric_readers=[self._reader], shutdown_on_exit=False)
        self._instruments(self._provider.get_meter("wattprint", __version__))
        self._exporter = OTLPMetricExporter(endpoint=self.url, timeout=self.timeout_s)
        self.courier = Courier(run, "sink:otlp", f"OTLP export to {self.url}", self._send)

    def _instruments(self, meter: Any) -> None:
        meter.create_observable_counter("wattprint.energy", [self._energy], unit="J",
                                        description="Energy per channel since the run started")
        meter.create_observable_counter("wattprint.emissions", [self._emissions], unit="g",
                                        description="Location-based emissions per channel, grams CO2e")
        meter.create_observable_gauge("wattprint.power", [self._power], unit="W",
                                      description="Mean power per channel over the last interval")
        meter.create_observable_gauge("wattprint.grid.intensity", [self._intensity], unit="g/kW.h",
                                      description="Grid carbon intensity in use, gCO2e per kWh")
        meter.create_observable_gauge("wattprint.pue", [self._pue], unit="1",
                                      description="Power usage effectiveness applied to the energy")

    # -- the instruments' callbacks (called by collect(), on the courier's thread) --

    def _points(self, field: str) -> Iterator[Any]:
        from opentelemetry.metrics import Observation

        assert self.view is not None
        for c in self.view.channels():
            value = getattr(c, field)
            if value is not None:
                yield Observation(value, {"wattprint.channel": c.name, "wattprint.component": c.component,
                                          "wattprint.method": c.method, "wattprint.in_total": c.in_total})

    def _energy(self, options: Any) -> Iterator[Any]:
        return self._points("energy_j")

    def _emissions(self, options: Any) -> Iterator[Any]:
        return self._points("emissions_g")

    def _power(self, options: Any) -> Iterator[Any]:
        return self._points("power_w")

    def _intensity(self, options: Any) -> Iterator[Any]:
        from opentelemetry.metrics import Observation

        assert self.view is not None
        now, intensity = self.view.intensity_now(), self.view.intensity
        if now is not None and intensity is not None:
            yield Observation(now[0], {"wattprint.intensity.source": now[1],
                                       "wattprint.intensity.location": intensity.location,
                                       "wattprint.intensity.fallback": intensity.fallback})

    def _pue(self, options: Any) -> Iterator[Any]:
        from opentelemetry.metrics import Observation

        assert self.view is not None
        if self.view.intensity is not None:
            yield Observation(self.view.intensity.pue)

    # -- sending --

    def _send(self, final: bool) -> None:
        from opentelemetry.sdk.metrics.export import MetricExportResult

        data = self._reader.get_metrics_data()
        try:
            if data is not None:
                result = self._exporter.export(data, timeout_millis=self.timeout_s * 1000)
                if result is not MetricExportResult.SUCCESS:
                    raise ConnectionError(f"no success within {self.timeout_s:g} s (refused, unreachable "
                                          "or an error status)")
        finally:
            if final:
                self._exporter.shutdown()

    def close(self) -> None:
        super().close()
        if self._provider is not None:
            try:
                self._provider.shutdown(timeout_millis=100)  # the in-memory reader: nothing to send
            except Exception:  # noqa: S110 - closing is best effort
                pass
            self._provider = None
