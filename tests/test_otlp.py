"""The ``otlp`` sink: a real ``wattprint run`` sending to an OTLP/HTTP receiver on 127.0.0.1.

The receiver is written for the test: it records each POST, and the bodies are
decoded with the OpenTelemetry protocol's own protobuf classes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fake_rapl import make_tree
from local_http import HangingServer, LocalServer, closed_port_url
from realparts import need_module
from wattprint.sinks.otlp import metrics_url

SRC = str(Path(__file__).resolve().parents[1] / "src")
PKG, DRAM = "cpu:package-0", "dram:package-0"


@pytest.fixture(autouse=True)
def _sdk() -> None:
    need_module("opentelemetry.sdk", "pip install 'wattprint[otlp]'")
    need_module("opentelemetry.proto", "pip install 'wattprint[otlp]'")


def wp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, PYTHONPATH=SRC, **(env or {}))
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args],
                          capture_output=True, text=True, env=e, timeout=90)


def attr(kv: Any) -> object:
    which = kv.value.WhichOneof("value")
    return getattr(kv.value, which)


def decode(body: bytes) -> Any:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    return ExportMetricsServiceRequest.FromString(body)


def points(request: Any) -> tuple[dict[str, object], dict[str, Any]]:
    """(resource attributes, metric name → metric) of one export."""
    [rm] = request.resource_metrics
    metrics = {m.name: m for sm in rm.scope_metrics for m in sm.metrics}
    return {kv.key: attr(kv) for kv in rm.resource.attributes}, metrics


def per_channel(metric: Any, kind: str) -> dict[str, float]:
    out = {}
    for dp in getattr(metric, kind).data_points:
        attrs = {kv.key: attr(kv) for kv in dp.attributes}
        out[str(attrs["wattprint.channel"])] = dp.as_double
    return out


def test_run_metrics_reach_the_receiver_with_the_numbers_and_resource(tmp_path: Path) -> None:
    from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

    rapl = make_tree(tmp_path / "pc")
    receiver = LocalServer(lambda method, path, headers: (200, {"Content-Type": "application/x-protobuf"}, b""))
    # the command itself moves the counters: 4 J on the package, 1.5 J on the DRAM
    child = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
             "from fake_rapl import set_uj; import time; from pathlib import Path\n"
             f"root = Path({str(rapl)!r})\n"
             "set_uj(root, 'intel-rapl:0', 4_000_000); set_uj(root, 'intel-rapl:0:0', 1_500_000)\n"
             "time.sleep(0.6)\n")
    try:
        r = wp("run", "--rapl-root", str(rapl), "--country", "FR", "--otlp-endpoint", receiver.url, "-q",
               "--interval", "0.1", "--json", str(tmp_path / "run.json"), "--", sys.executable, "-c", child,
               env={"WATTPRINT_FLUSH_EVERY_S": "0.2", "WATTPRINT_OTLP_SERVICE_NAME": "trainer \"x\""})
    finally:
        receiver.close()
    assert r.returncode == 0, r.stderr
    run = json.loads((tmp_path / "run.json").read_text())
    assert not [f for f in run["faults"] if f["source"].startswith("sink:")]
    posts = [(path, headers, body) for method, path, headers, body in receiver.exchanges if method == "POST"]
    assert len(posts) >= 2  # at flushes, and the last one at the end
    assert {path for path, _, _ in posts} == {"/v1/metrics"}
    assert all(h["content-type"] == "application/x-protobuf" for _, h, _ in posts)

    resource, metrics = points(decode(posts[-1][2]))
    assert resource["service.name"] == 'trainer "x"'
    assert resource["service.instance.id"] == run["id"]
    assert resource["host.name"] == run["host"]
    assert resource["process.pid"] == run["pid"]
    assert resource["wattprint.run.name"] == run["name"]
    assert resource["telemetry.sdk.name"] == "opentelemetry"

    energy = metrics["wattprint.energy"]
    assert energy.unit == "J" and energy.sum.is_monotonic
    assert energy.sum.aggregation_temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    assert per_channel(energy, "sum") == {PKG: 4.0, DRAM: 1.5}
    assert {c: v["energy_j"] for c, v in run["channels"].items()} == {PKG: 4.0, DRAM: 1.5}
    grams = metrics["wattprint.emissions"]
    assert grams.unit == "g" and grams.sum.is_monotonic
    g = run["intensity"]["g_per_kwh"]
    for channel, joules in {PKG: 4.0, DRAM: 1.5}.items():
        assert per_channel(grams, "sum")[channel] == pytest.approx(joules / 3.6e6 * g, rel=1e-9)
        assert per_channel(grams, "sum")[channel] == pytest.approx(run["channels"][channel]["emissions_g"], rel=1e-9)
    power = metrics["wattprint.power"]
    assert power.unit == "W" and set(per_channel(power, "gauge")) == {PKG, DRAM}
    [dp] = metrics["wattprint.grid.intensity"].gauge.data_points
    assert dp.as_double == g
    assert {kv.key: attr(kv) for kv in dp.attributes} == {
        "wattprint.intensity.source": run["intensity"]["source"], "wattprint.intensity.location": "FR",
        "wattprint.intensity.fallback": False}
    assert metrics["wattprint.pue"].gauge.data_points[0].as_double == 1.0
    # every export before the last carries energy no higher than the final (a counter)
    for _, _, body in posts:
        assert per_channel(points(decode(body))[1]["wattprint.energy"], "sum")[PKG] <= 4.0


@pytest.mark.parametrize("endpoint", ["refused", "hanging", "error"])
def test_a_failing_endpoint_never_hurts_the_job(tmp_path: Path, endpoint: str) -> None:
    rapl = make_tree(tmp_path / "pc")
    server = {"refused": None, "hanging": HangingServer(),
              "error": LocalServer(lambda m, p, h: (500, {}, b"boom"))}[endpoint]
    url = closed_port_url() if server is None else server.url
    try:
        t0 = time.monotonic()
        r = wp("run", "--rapl-root", str(rapl), "--otlp-endpoint", url, "-q", "--json", str(tmp_path / "run.json"),
               "--", sys.executable, "-c", "import time; time.sleep(0.5); raise SystemExit(5)",
               env={"WATTPRINT_EXPORTER_TIMEOUT_S": "0.5", "WATTPRINT_FLUSH_EVERY_S": "0.1"})
        elapsed = time.monotonic() - t0
    finally:
        if server is not None:
            server.close()
    assert r.returncode == 5, r.stderr
    assert elapsed < 30
    assert r.stderr == ""  # no SDK log line: the fault says it
    faults = [f for f in json.loads((tmp_path / "run.json").read_text())["faults"] if f["source"] == "sink:otlp"]
    assert faults and faults[-1]["message"].startswith(f"final OTLP export to {url}/v1/metrics failed")
    assert len(faults) <= 2  # one for the streak during the run, one for the final export


def test_the_endpoint_gets_the_metrics_path_once() -> None:
    assert metrics_url("http://c:4318") == "http://c:4318/v1/metrics"
    assert metrics_url("http://c:4318/") == "http://c:4318/v1/metrics"
    assert metrics_url("https://c/otlp/v1/metrics") == "https://c/otlp/v1/metrics"
    assert metrics_url("http://c:9090/api/v1/otlp") == "http://c:9090/api/v1/otlp/v1/metrics"
