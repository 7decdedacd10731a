"""``wattprint exporter``: a machine's energy on ``/metrics`` for Prometheus, until stopped.

A long-running agent, one per machine: the same sensors, sampler and run
figures as ``wattprint watch``, published by the Prometheus sink without the
run's identity in the labels (one series per channel for the life of the
machine; a restart is a counter reset, which Prometheus' ``rate()`` and
``increase()`` handle). Scrapes read the figures of the last interval; they
never touch the hardware. Binds 127.0.0.1 unless ``--bind`` says otherwise.
SIGTERM, SIGHUP and SIGINT stop it cleanly: the handler only releases a lock
the main thread waits on, and the main thread stops the run and the server.

Also here: the exporter flags of ``wattprint run`` and ``watch``
(``--prometheus-port``, ``--pushgateway``, ``--otlp-endpoint``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from wattprint.cli.common import UsageError
from wattprint.cli.options import add_location, add_sensors, load_settings

DEFAULT_PORT = 9875


def add_exporter_flags(p: argparse.ArgumentParser) -> None:
    """``--prometheus-port``, ``--pushgateway``, ``--otlp-endpoint``: where a run's metrics also go."""
    g = p.add_argument_group("exporters (see docs/monitoring.md)")
    g.add_argument("--prometheus-port", type=int, metavar="N",
                   help="serve the run's metrics on 127.0.0.1:N/metrics while it runs (prometheus extra)")
    g.add_argument("--pushgateway", metavar="URL", dest="prometheus_pushgateway",
                   help="push the run's metrics to this Prometheus Pushgateway; deleted at the end")
    g.add_argument("--otlp-endpoint", metavar="URL",
                   help="send the run's metrics over OTLP/HTTP, e.g. http://localhost:4318 (otlp extra)")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "exporter",
        help="serve this machine's power and energy on /metrics for Prometheus",
        description="Measure the whole machine and serve its energy, power, emissions and grid intensity on "
        "http://127.0.0.1:PORT/metrics until SIGTERM or Ctrl-C. Needs the 'prometheus' extra.",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    p.add_argument("--bind", metavar="ADDRESS", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 or :: "
                   "serves the network, unauthenticated)")
    p.add_argument("--interval", type=float, help="seconds between samples (0.01 to 3600; default 1)")
    p.add_argument("--quiet", "-q", action="store_true", help="no line on stderr when serving and stopping")
    add_location(p)
    add_sensors(p)
    p.set_defaults(func=handle)


class _StopLatch:
    """SIGTERM/SIGHUP/SIGINT release a lock the main thread waits on; nothing else in the handler."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self.previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        try:
            self._lock.release()
        except RuntimeError:  # already released: a stop is under way
            pass

    def __enter__(self) -> _StopLatch:
        for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                self.previous[sig] = signal.signal(sig, self._handler)
        return self

    def wait(self) -> None:
        while not self._lock.acquire(timeout=1.0):  # short waits: a signal is seen promptly
            pass

    def __exit__(self, *exc: object) -> None:
        for sig, old in self.previous.items():
            signal.signal(sig, old)


def handle(args: argparse.Namespace) -> int:
    import warnings

    from wattprint.errors import ConfigError, LocationError, SensorError
    from wattprint.sinks.prometheus import PrometheusSink
    from wattprint.tracking.tracker import Tracker

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be from 0 to 65535, got {args.port}")
    settings = load_settings(args, store=False, tags={"mode": "exporter"})
    if settings.is_set("prometheus_port"):  # that setting is a run's own port, not the agent's
        raise UsageError(f"prometheus_port is set ({settings.source('prometheus_port')}): it is for runs; "
                         "the exporter listens on --port (unset it here)")
    if not settings.is_set("name"):
        settings = settings.with_arguments({"name": "exporter"}, {"name": "default for exporter"})
    try:
        sink = PrometheusSink(port=args.port, address=args.bind, run_labels=False)
        server = sink.listen()  # bound now: a taken port is one line, before any sensor opens
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        import errno

        hint = ("another program (an exporter already running?) has it: pick --port"
                if exc.errno == errno.EADDRINUSE else "--bind takes an address of this machine, e.g. 127.0.0.1")
        raise UsageError(f"cannot listen on {args.bind} port {args.port}: {exc.strerror or exc} ({hint})") from None
    try:
        tracker = Tracker(settings=settings, sinks=[sink])
        with _StopLatch() as latch:
            tracker.start()
            if not args.quiet:
                print(f"wattprint: exporter serving {server.url} (SIGTERM or Ctrl-C to stop)", file=sys.stderr)
            latch.wait()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an agent's end is not a run's summary
                tracker.stop(status="finished")
    except (LocationError, SensorError) as exc:
        raise UsageError(str(exc)) from None
    finally:
        sink.close()  # the server goes even when the tracker never started
    if not args.quiet:
        print("wattprint: exporter stopped", file=sys.stderr)
    return 0
