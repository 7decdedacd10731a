"""The exporters against the real thing: Debian's Prometheus scraping ``wattprint exporter``, and
its Pushgateway taking (and deleting) a run's pushes. Installed by ``.ci/setup.d/40-prometheus.sh``;
each test starts its own server on 127.0.0.1 in a temporary directory.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_rapl import make_tree, set_uj
from realparts import need_module, need_program
from test_prometheus_exporter import PKG, Agent, expected_intensity, samples, wait_for
from wattprint.tracking.tracker import Tracker

HOW = "apt-get install prometheus prometheus-pushgateway (.ci/setup.d/40-prometheus.sh)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        return bytes(r.read())


def ready(url: str) -> bool:
    try:
        get(url)
        return True
    except OSError:
        return False


class Server:
    """A server process; ``stop()`` ends it (SIGTERM, then SIGKILL) and returns its output."""

    def __init__(self, argv: list[str], ready_url: str, log: Path) -> None:
        self.log = log
        with open(log, "wb") as fh:
            self.proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not ready(ready_url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{argv[0]} did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    need_module("prometheus_client", "pip install 'wattprint[prometheus]'")
    program = need_program("prometheus-pushgateway", HOW)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = Server([program, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
                    f"{url}/-/ready", tmp_path / "pushgateway.log")
    try:
        yield url
    finally:
        server.stop()


def pushed_energy(url: str, run_id: str) -> list[tuple[dict[str, str], float]]:
    found = samples(get(f"{url}/metrics").decode())
    return [(labels, v) for labels, v in found.get("wattprint_energy_joules_total", []) if labels.get("run") == run_id]


@pytest.mark.parametrize("keep", [False, True])
def test_a_real_pushgateway_takes_the_pushes_and_the_group_goes_at_the_end(
        tmp_path: Path, pushgateway: str, keep: bool) -> None:
    rapl = make_tree(tmp_path / "pc")
    t = Tracker(rapl_root=str(rapl), country="FR", store=False, prometheus_pushgateway=pushgateway,
                pushgateway_keep=keep, flush_every_s=0.1, interval=0.05, tags={"job": "slurm-42", "rank": "0"})
    run = t.start()
    try:
        set_uj(rapl, "intel-rapl:0", 3_000_000)
        series = wait_for(lambda: [s for s in pushed_energy(pushgateway, run.id) if s[0]["channel"] == PKG
                                   and s[1] == 3.0])
    finally:
        t.stop()
    [(labels, _)] = series
    # the grouping key becomes the series' labels: job (the push job), instance (the host), run, rank
    assert labels["job"] == "wattprint" and labels["instance"] == run.host == labels["host"]
    assert labels["run"] == run.id and labels["rank"] == "0" and labels["job_id"] == "slurm-42"
    assert not [f for f in run.faults if f.source.startswith("sink:")]  # every push was accepted
    left = pushed_energy(pushgateway, run.id)
    if keep:
        assert {s[0]["channel"]: s[1] for s in left}[PKG] == 3.0
    else:
        assert left == []  # deleted after the final push


def test_a_real_prometheus_scrapes_the_agent_and_stores_the_counters(tmp_path: Path) -> None:
    need_module("prometheus_client", "pip install 'wattprint[prometheus]'")
    program = need_program("prometheus", HOW)
    rapl = make_tree(tmp_path / "pc")
    agent = Agent("--rapl-root", str(rapl), "--country", "FR", "--interval", "0.2")
    prometheus: Server | None = None
    try:
        target = agent.url.split("//", 1)[1].split("/", 1)[0]
        config = tmp_path / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                          "scrape_configs:\n  - job_name: wattprint-agent\n"
                          f"    static_configs:\n      - targets: ['{target}']\n")
        port = free_port()
        api = f"http://127.0.0.1:{port}"
        prometheus = Server([program, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"], f"{api}/-/ready", tmp_path / "prometheus.log")
        set_uj(rapl, "intel-rapl:0", 5_000_000)

        def query(expr: str) -> list[dict[str, object]]:
            body = json.loads(get(f"{api}/api/v1/query?query={urllib.parse.quote(expr)}"))
            assert body["status"] == "success", body
            return list(body["data"]["result"])

        [up] = wait_for(lambda: query('up{job="wattprint-agent"} == 1'), timeout=60)
        [energy] = wait_for(lambda: query(f'wattprint_energy_joules_total{{channel="{PKG}"}} == 5'), timeout=60)
        labels = energy["metric"]
        assert isinstance(labels, dict)
        assert labels["job"] == "wattprint-agent" and labels["instance"] == target  # Prometheus' own, not clashing
        assert labels["host"] == socket.gethostname() and labels["method"] == "counter"
        assert "exported_job" not in labels and "exported_instance" not in labels
        [intensity] = wait_for(lambda: query('wattprint_grid_intensity_grams_per_kwh{location="FR"}'), timeout=60)
        assert float(intensity["value"][1]) == expected_intensity("FR")[0]  # type: ignore[index]
    finally:
        if prometheus is not None:
            prometheus.stop()
        code, err = agent.stop()
    assert code == 0, err
