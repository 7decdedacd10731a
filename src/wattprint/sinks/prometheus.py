"""The ``prometheus`` sink: a run's energy for Prometheus, scraped on a port or pushed.

Built on the official client library (``prometheus_client``, the
``prometheus`` extra): the exposition text, its label escaping, the
Pushgateway protocol are the library's. What is published (see
:mod:`wattprint.sinks.metrics` for how each figure is read)::

    wattprint_energy_joules_total{host,run,channel,component,method,in_total}   counter
    wattprint_emissions_grams_total{...same...}                                 counter (g CO2e)
    wattprint_power_watts{...same...}                                           gauge, last interval
    wattprint_energy_band_ratio{...same...}                                     gauge, relative ±
    wattprint_grid_intensity_grams_per_kwh{host,run,location,source,fallback}   gauge
    wattprint_pue{host,run}                                                     gauge
    wattprint_start_time_seconds{host,run}                                      gauge (UTC epoch)
    wattprint_run_info{host,run,name,status} 1                                  the run's name

``job_id`` and ``rank`` join ``run`` when the run has the tags ``job`` and
``rank`` (``job`` and ``instance`` are Prometheus' own target labels). No
label is per window or per interval: a run has one series per channel.

Two ways out, either or both:

* **scraped** (``port``): a ``/metrics`` HTTP server on ``address`` (127.0.0.1
  by default) for the run's lifetime, on a thread of its own;
* **pushed** (``pushgateway``): the registry is PUT to a Pushgateway at every
  flush and at the end, under the grouping key ``job``/``instance``(host)/
  ``run`` (+ ``rank``), and the group is deleted after the final push unless
  ``keep`` (docs/monitoring.md has the trade-off).

A port that cannot be bound fails ``started`` (the sink is dropped, the run
goes on with a fault); a Pushgateway that fails costs a fault per streak. Each
push has ``timeout_s``; the last one is waited for at most twice that.
"""

from __future__ import annotations

from wattprint.sinks.metrics import Courier, ExporterSink, RunView, need_extra

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from wattprint.tracking.run import Run

CHANNEL_LABELS = ("channel", "component", "method", "in_total")


class MetricsCollector:
    """A ``prometheus_client`` collector that reads a :class:`RunView` at each scrape."""

    def __init__(self, view: RunView) -> None:
        self.view = view

    def describe(self) -> list[Any]:
        return []  # the series depend on the run: nothing to check at register time

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        view = self.view
        ident = view.identity()
        names, values = list(ident), list(ident.values())
        labels = [*names, *CHANNEL_LABELS]
        energy = CounterMetricFamily("wattprint_energy_joules", "Energy per channel since the start, in joules",
                                     labels=labels, unit="joules")
        grams = CounterMetricFamily("wattprint_emissions_grams",
                                    "Location-based emissions per channel since the start, in grams CO2e",
                                    labels=labels, unit="grams")
        power = GaugeMetricFamily("wattprint_power_watts", "Mean power per channel over the last interval",
                                  labels=labels, unit="watts")
        band = GaugeMetricFamily("wattprint_energy_band_ratio",
                                 "Relative uncertainty (plus or minus) of the channel's energy",
                                 labels=labels, unit="ratio")
        for c in view.channels():
            row = [*values, c.name, c.component, c.method, "true" if c.in_total else "false"]
            energy.add_metric(row, c.energy_j)
            band.add_metric(row, c.band)
            if c.emissions_g is not None:
                grams.add_metric(row, c.emissions_g)
            if c.power_w is not None:
                power.add_metric(row, c.power_w)
        yield from (energy, grams, power, band)
        yield from self._run_families(names, values)

    def _run_families(self, names: list[str], values: list[str]) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        view, run = self.view, self.view.run
        now = view.intensity_now()
        intensity = view.intensity
        if now is not None and intensity is not None:
            g = GaugeMetricFamily("wattprint_grid_intensity_grams_per_kwh",
                                  "Grid carbon intensity in use, gCO2e per kWh",
                                  labels=[*names, "location", "source", "fallback"])
            g.add_metric([*values, intensity.location, now[1], "true" if intensity.fallback else "false"], now[0])
            pue = GaugeMetricFamily("wattprint_pue", "Power usage effectiveness applied to the energy",
                                    labels=names)
            pue.add_metric(values, intensity.pue)
            yield from (g, pue)
        start = GaugeMetricFamily("wattprint_start_time_seconds", "When the run started, UTC epoch seconds",
                                  labels=names, unit="seconds")
        start.add_metric(values, run.start_wall)
        yield start
        if view.run_labels:
            info = GaugeMetricFamily("wattprint_run_info", "The run's name and status",
                                     labels=[*names, "name", "status"])
            info.add_metric([*values, run.name, run.status], 1.0)
            yield info


class MetricsServer:
    """``/metrics`` for a registry, on ``address:port``, served from a thread of wattprint's own.

    Bound at construction (``OSError`` when the port is taken); :meth:`start`
    serves, :meth:`close` stops and unbinds. The serving thread and the
    threads it starts per request block SIGTERM/SIGHUP (:mod:`wattprint._threads`).
    """

    def __init__(self, address: str, port: int, registry: Any) -> None:
        import socket
        from wsgiref.simple_server import WSGIRequestHandler, make_server

        from prometheus_client.exposition import ThreadingWSGIServer, make_wsgi_app

        family = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0][0]

        class Server(ThreadingWSGIServer):
            address_family = family
            timeout = 0.5  # handle_request() never waits longer, even for a connection gone before accept

        class QuietHandler(WSGIRequestHandler):
            timeout = 10.0  # a client that stops sending frees its thread (socket timeout, seconds)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
                pass  # no line on stderr per scrape

        self.httpd = make_server(address, port, make_wsgi_app(registry), Server, handler_class=QuietHandler)
        self.address = address
        self.port: int = self.httpd.server_port
        self._thread: Any = None
        self._wake_r = self._wake_w = -1

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}/metrics"

    def start(self) -> None:
        import os

        from wattprint._threads import new_thread

        self._wake_r, self._wake_w = os.pipe()
        thread = new_thread(self._serve, "wattprint-metrics")
        thread.start()
        self._thread = thread

    def _serve(self) -> None:
        """Answer requests until :meth:`close` writes to the wake pipe: no polling while idle
        (``serve_forever`` wakes every poll interval, and its shutdown waits for one)."""
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(self.httpd, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while True:
                for key, _ in sel.select():
                    if key.fileobj == self._wake_r:
                        return
                    self.httpd.handle_request()  # ready: accepts at once, answered on a new thread

    def close(self) -> None:
        import os

        thread, self._thread = self._thread, None
        if thread is not None:
            os.write(self._wake_w, b"x")
            thread.join(2.0)
            os.close(self._wake_w)
            if not thread.is_alive():
                os.close(self._wake_r)
        self.httpd.server_close()


class PrometheusSink(ExporterSink):
    """Publish a run to Prometheus: served on ``port``, pushed to ``pushgateway``, or both.

    ``run_labels=False`` drops the run's identity from the labels (the
    ``wattprint exporter`` agent). See the module doc for the metrics.
    """

    name = "prometheus"

    def __init__(self, *, port: int | None = None, address: str = "127.0.0.1", pushgateway: str | None = None,
                 job: str = "wattprint", keep: bool = False, timeout_s: float = 2.0, run_labels: bool = True) -> None:
        need_extra("prometheus_client", "prometheus", "the Prometheus exporter")
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry(auto_describe=False)
        self.port, self.address, self.pushgateway = port, address, pushgateway
        self.job, self.keep, self.timeout_s, self.run_labels = job, keep, timeout_s, run_labels
        self.final_wait_s = 2 * timeout_s + 1.0  # the last push, then the delete
        self.server: MetricsServer | None = None
        self.view: RunView | None = None
        self.courier: Courier | None = None
        self.grouping: dict[str, str] = {}

    def listen(self) -> MetricsServer:
        """Bind the port now (``OSError`` if taken), before the run starts; ``started`` serves it."""
        if self.server is None:
            if self.port is None:
                raise ValueError("this sink has no port to listen on")
            self.server = MetricsServer(self.address, self.port, self.registry)
        return self.server

    def started(self, run: Run) -> None:
        self.view = RunView(run, run_labels=self.run_labels)
        self.registry.register(MetricsCollector(self.view))
        if self.port is not None:
            self.listen().start()
        if self.pushgateway:
            ident = self.view.identity()
            self.grouping = {"instance": ident.pop("host"), **ident}
            self.courier = Courier(run, "sink:prometheus", f"push to {self.pushgateway}", self._push)

    def _push(self, final: bool) -> None:
        from prometheus_client import delete_from_gateway, push_to_gateway

        assert self.pushgateway is not None
        try:
            push_to_gateway(self.pushgateway, job=self.job, registry=self.registry,
                            grouping_key=self.grouping, timeout=self.timeout_s)
        finally:
            if final and not self.keep:  # even after a failed push: a stale group must not stay
                delete_from_gateway(self.pushgateway, job=self.job, grouping_key=self.grouping,
                                    timeout=self.timeout_s)

    def close(self) -> None:
        super().close()
        if self.server is not None:
            self.server.close()
            self.server = None
