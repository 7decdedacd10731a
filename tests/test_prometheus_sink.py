"""The ``prometheus`` sink of a run: scraped on its port, pushed to a Pushgateway, and never the job's harm.

The Pushgateway is an imitation on 127.0.0.1 that records each request with its
body; bodies are read back with Prometheus' own parser.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fake_rapl import make_tree, set_uj
from local_http import HangingServer, LocalServer, closed_port_url
from realparts import need_module
from test_prometheus_exporter import PKG, by_channel, samples, wait_for
from wattprint.tracking.tracker import Tracker

SRC = str(Path(__file__).resolve().parents[1] / "src")
HOSTILE = 'q"uote \\back\\slash\nnew line}{,= \t\r é 🙂 \\n'


@pytest.fixture(autouse=True)
def _client() -> None:
    need_module("prometheus_client", "pip install 'wattprint[prometheus]'")


@pytest.fixture
def rapl(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "pc")


def wp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, PYTHONPATH=SRC, **(env or {}))
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args],
                          capture_output=True, text=True, env=e, timeout=90)


def test_hostile_names_and_tags_round_trip_through_the_exposition(rapl: Path) -> None:
    t = Tracker(name=HOSTILE, tags={"job": HOSTILE + "job", "rank": "3\n"}, rapl_root=str(rapl), country="DE",
                store=False, prometheus_port=0, interval=0.05)
    run = t.start()
    try:
        [sink] = [s for s in t._sinks if s.name == "prometheus"]  # type: ignore[union-attr]
        assert sink.server.address == "127.0.0.1"  # the default: this machine only
        url = sink.server.url
        set_uj(rapl, "intel-rapl:0", 3_000_000)
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode("utf-8")
        found = wait_for(lambda: (f := samples(urllib.request.urlopen(url, timeout=10).read().decode()))
                         and by_channel(f, "wattprint_energy_joules_total").get(PKG) == 3.0 and f)
    finally:
        t.stop()
    assert "\nnew line" not in text  # the raw line break never reaches the exposition
    [(info, value)] = found["wattprint_run_info"]
    assert value == 1.0
    assert info == {"host": run.host, "run": run.id, "job_id": HOSTILE + "job", "rank": "3\n", "name": HOSTILE,
                    "status": "running"}
    for labels, _ in found["wattprint_energy_joules_total"]:
        assert labels["job_id"] == HOSTILE + "job" and labels["run"] == run.id
    assert not [f for f in run.faults if f.source.startswith("sink:")]
    with pytest.raises(OSError):  # closed with the run
        urllib.request.urlopen(url, timeout=2)


def test_scrapes_during_the_stop_and_a_silent_client_never_hold_the_run(rapl: Path) -> None:
    import threading

    t = Tracker(rapl_root=str(rapl), country="FR", store=False, prometheus_port=0, interval=0.02)
    t.start()
    [sink] = [s for s in t._sinks if s.name == "prometheus"]  # type: ignore[union-attr]
    url, port = sink.server.url, sink.server.port
    silent = socket.create_connection(("127.0.0.1", port), timeout=5)  # connects, never sends a request
    bodies: list[str] = []
    stop = threading.Event()

    def scraper() -> None:
        while not stop.is_set():
            try:
                bodies.append(urllib.request.urlopen(url, timeout=5).read().decode())
            except OSError:
                pass  # the server is gone: the run ended

    th = threading.Thread(target=scraper, daemon=True)
    th.start()
    try:
        wait_for(lambda: len(bodies) >= 20)
        t0 = time.monotonic()
        t.stop()
        took = time.monotonic() - t0
    finally:
        stop.set()
        th.join(10)
        silent.close()
    assert took < 5  # the server closes at once, scrapes in flight or not
    assert not th.is_alive()
    for body in bodies:  # every answer is whole and parses
        assert by_channel(samples(body), "wattprint_energy_joules_total").keys() == {PKG, "dram:package-0"}


def test_published_counters_never_go_down_when_the_run_is_re_priced(rapl: Path) -> None:
    from wattprint.sinks.metrics import RunView

    t = Tracker(rapl_root=str(rapl), country="PL", store=False, interval=0.05)
    run = t.start()
    try:
        view = RunView(run)
        set_uj(rapl, "intel-rapl:0", 2_000_000)
        wait_for(lambda: {c.name: c.emissions_g for c in view.channels()}.get(PKG))
        [before] = [c for c in view.channels() if c.name == PKG]
        assert run.intensity is not None
        run.price(run.intensity.replace(g_per_kwh=run.intensity.g_per_kwh / 10))  # a lower re-pricing
        assert run.channels[PKG].emissions_g < before.emissions_g  # the run's own figure went down...
        [after] = [c for c in view.channels() if c.name == PKG]
        assert after.emissions_g == before.emissions_g  # ...the published counter holds
        assert after.energy_j == before.energy_j == 2.0
    finally:
        t.stop()


def gateway() -> LocalServer:
    return LocalServer(lambda method, path, headers: (200 if method != "DELETE" else 202, {}, b""))


@pytest.mark.parametrize("keep", [False, True])
def test_pushed_to_a_pushgateway_every_flush_and_the_group_deleted_at_the_end(rapl: Path, keep: bool) -> None:
    gw = gateway()
    try:
        t = Tracker(rapl_root=str(rapl), country="FR", store=False, prometheus_pushgateway=gw.url,
                    pushgateway_keep=keep, flush_every_s=0.1, interval=0.05, tags={"rank": "1"})
        run = t.start()
        set_uj(rapl, "intel-rapl:0", 4_000_000)
        wait_for(lambda: sum(1 for m, *_ in gw.exchanges if m == "PUT") >= 2)
        set_uj(rapl, "intel-rapl:0", 6_500_000)
        t.stop()
    finally:
        gw.close()
    exchanges = list(gw.exchanges)
    [path] = {path for _, path, _, _ in exchanges}  # one group, always the same
    parts = path.split("/")
    assert parts[:2] == ["", "metrics"]
    assert dict(zip(parts[2::2], parts[3::2])) == {"job": "wattprint", "instance": run.host, "run": run.id,
                                                    "rank": "1"}
    methods = [m for m, *_ in exchanges]
    assert methods[-1] == ("PUT" if keep else "DELETE") and "DELETE" not in methods[:-1]
    assert set(methods) <= {"PUT", "DELETE"}
    final_put = [body for m, _, _, body in exchanges if m == "PUT"][-1]
    found = samples(final_put.decode("utf-8"))
    assert by_channel(found, "wattprint_energy_joules_total")[PKG] == 6.5 == run.channels[PKG].energy_j
    assert found["wattprint_run_info"][0][0]["status"] == "finished"
    for body in (b for m, _, _, b in exchanges if m == "PUT"):  # every push parses, energy never goes down
        assert samples(body.decode("utf-8"))["wattprint_energy_joules_total"]
    pushed = [by_channel(samples(b.decode()), "wattprint_energy_joules_total")[PKG]
              for m, _, _, b in exchanges if m == "PUT"]
    assert pushed == sorted(pushed) and pushed[0] <= 4.0
    assert not [f for f in run.faults if f.source.startswith("sink:")]


def test_cli_run_serves_its_metrics_while_the_command_runs(rapl: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    child = ("import os, time\n"
             f"while not os.path.exists({str(go)!r}): time.sleep(0.02)\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free now; the run binds it a moment later
    env = dict(os.environ, PYTHONPATH=SRC)
    proc = subprocess.Popen([sys.executable, "-m", "wattprint.cli.main", "run", "--rapl-root", str(rapl),
                             "--country", "FR", "--name", HOSTILE, "--prometheus-port", str(port), "-q",
                             "--json", str(tmp_path / "run.json"), "--", sys.executable, "-c", child],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/metrics"

        def scraped() -> dict[str, list[tuple[dict[str, str], float]]] | None:
            try:
                return samples(urllib.request.urlopen(url, timeout=5).read().decode())
            except OSError:
                return None

        found = wait_for(scraped)
    finally:
        go.write_text("")
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    run = json.loads((tmp_path / "run.json").read_text())
    assert found["wattprint_run_info"][0][0]["name"] == HOSTILE
    assert found["wattprint_run_info"][0][0]["run"] == run["id"]
    assert not [f for f in run["faults"] if f["source"].startswith("sink:")]


@pytest.mark.parametrize("endpoint", ["refused", "hanging", "error"])
def test_a_failing_pushgateway_never_hurts_the_job(rapl: Path, tmp_path: Path, endpoint: str) -> None:
    server = {"refused": None, "hanging": HangingServer(),
              "error": LocalServer(lambda m, p, h: (500, {}, b"boom"))}[endpoint]
    url = closed_port_url() if server is None else server.url
    try:
        t0 = time.monotonic()
        r = wp("run", "--rapl-root", str(rapl), "--country", "FR", "--pushgateway", url, "-q",
               "--json", str(tmp_path / "run.json"), "--", sys.executable, "-c", "raise SystemExit(7)",
               env={"WATTPRINT_EXPORTER_TIMEOUT_S": "0.5"})
        elapsed = time.monotonic() - t0
    finally:
        if server is not None:
            server.close()
    assert r.returncode == 7, r.stderr  # the command's own exit code
    assert elapsed < 30  # the final push and delete are bounded (0.5 s each + 1 s)
    assert r.stderr == ""  # quiet: the fault is in the run, not a log line
    faults = [f for f in json.loads((tmp_path / "run.json").read_text())["faults"] if f["source"] == "sink:prometheus"]
    assert faults and "final push to" in faults[-1]["message"]
    runs = wp("runs")
    assert runs.returncode == 0 and len(runs.stdout.splitlines()) == 2  # stored all the same


def test_a_taken_port_drops_the_sink_and_the_run_goes_on(rapl: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        r = wp("run", "--rapl-root", str(rapl), "--prometheus-port", str(taken.getsockname()[1]), "-q",
               "--json", str(tmp_path / "run.json"), "--", sys.executable, "-c", "pass")
    assert r.returncode == 0, r.stderr
    [fault] = [f for f in json.loads((tmp_path / "run.json").read_text())["faults"] if f["source"] == "sink:prometheus"]
    assert "started raised OSError" in fault["message"] and "sink dropped" in fault["message"]


@pytest.mark.parametrize("args, env, needle", [
    (["--pushgateway", "ftp://gw:9091"], {}, "--pushgateway: prometheus_pushgateway must be an http:// or https://"),
    (["--otlp-endpoint", "http://"], {}, "--otlp-endpoint: otlp_endpoint must be an http:// or https:// URL"),
    (["--prometheus-port", "65536"], {}, "--prometheus-port: prometheus_port must be a port number"),
    ([], {"WATTPRINT_PROMETHEUS_PORT": "http"}, "WATTPRINT_PROMETHEUS_PORT: prometheus_port must be a port"),
    ([], {"WATTPRINT_PROMETHEUS_PUSHGATEWAY": "gw:x:y://u:hunter2@"}, "must be an http:// or https:// URL"),
])
def test_bad_exporter_settings_are_one_line_and_exit_2(rapl: Path, args: list[str], env: dict[str, str],
                                                       needle: str) -> None:
    r = wp("run", "--rapl-root", str(rapl), *args, "--", sys.executable, "-c", "print('ran')", env=env)
    assert r.returncode == 2 and r.stdout == "", r.stderr
    assert needle in r.stderr and r.stderr.count("\n") == 1
    assert "hunter2" not in r.stderr  # a password in a URL is never shown back


def test_a_missing_extra_names_what_to_install() -> None:
    from wattprint.errors import ConfigError
    from wattprint.sinks.metrics import need_extra

    with pytest.raises(ConfigError, match=r"^the Prometheus exporter needs the 'prometheus' extra: "
                                          r"pip install 'wattprint\[prometheus\]'$"):
        need_extra("wattprint_no_such_module", "prometheus", "the Prometheus exporter")
    need_extra("prometheus_client", "prometheus", "the Prometheus exporter")  # installed: nothing
