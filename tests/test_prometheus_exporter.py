"""``wattprint exporter``: a real agent process, scraped over HTTP, parsed with Prometheus' own parser.

The hardware is a fake powercap tree (``--rapl-root``) whose counters the test
writes; the figures scraped must be those counters, in joules, priced with the
intensity the library resolves for the same location.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fake_rapl import make_tree, set_uj
from realparts import need_module

SRC = str(Path(__file__).resolve().parents[1] / "src")
PKG, DRAM = "cpu:package-0", "dram:package-0"


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of a scrape, by sample name (``..._total`` included), via the client's parser."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def by_channel(found: dict[str, list[tuple[dict[str, str], float]]], name: str) -> dict[str, float]:
    return {labels["channel"]: value for labels, value in found.get(name, [])}


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        return samples(r.read().decode("utf-8"))


def wait_for(cond: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


class Agent:
    """A ``wattprint exporter`` subprocess on a free port; ``url`` from the line it prints."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=SRC)
        self.proc = subprocess.Popen([sys.executable, "-m", "wattprint.cli.main", "exporter", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.first = self._line(30.0)
        assert "serving http://" in self.first, self.first + self._rest()
        self.url = self.first.split("serving ", 1)[1].split()[0]

    def _line(self, timeout: float) -> str:
        assert self.proc.stderr is not None
        ready, _, _ = select.select([self.proc.stderr], [], [], timeout)
        return self.proc.stderr.readline() if ready else ""

    def _rest(self) -> str:
        self.proc.kill()
        return self.proc.communicate(timeout=10)[1]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> tuple[int, str]:
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=timeout)  # a hang fails here
        return self.proc.returncode, err


@pytest.fixture
def agent_tree(tmp_path: Path) -> Iterator[tuple[Path, list[Agent]]]:
    need_module("prometheus_client", "pip install 'wattprint[prometheus]'")
    started: list[Agent] = []
    yield make_tree(tmp_path / "pc"), started
    for a in started:
        if a.proc.poll() is None:
            a.proc.kill()
            a.proc.communicate(timeout=10)


def expected_intensity(country: str) -> tuple[float, str]:
    from wattprint.intensity.resolve import resolve
    from wattprint.settings import load

    i = resolve(settings=load({"country": country}, env={}, files=[]))
    return i.g_per_kwh, i.source


def test_scraped_figures_are_the_counters_in_joules_and_priced(agent_tree: tuple[Path, list[Agent]]) -> None:
    root, started = agent_tree
    agent = Agent("--rapl-root", str(root), "--country", "FR", "--interval", "0.5")
    started.append(agent)
    assert agent.url.startswith("http://127.0.0.1:")  # this machine only, unless --bind says otherwise
    first = scrape(agent.url)
    assert by_channel(first, "wattprint_energy_joules_total") == {PKG: 0.0, DRAM: 0.0}
    labels = first["wattprint_energy_joules_total"][0][0]
    assert set(labels) == {"host", "channel", "component", "method", "in_total"}  # no run label: the agent's
    assert labels["host"] == socket.gethostname() and labels["method"] == "counter"

    # a steady 20 W on the package, written as a function of time (so a stalled writer costs
    # at most its stall); the power gauge is the mean over one 0.5 s interval
    rate_w, t0, stop = 20.0, time.monotonic(), threading.Event()
    written = [0]

    def writer() -> None:
        while not stop.is_set():
            written[0] = int(rate_w * (time.monotonic() - t0) * 1e6)
            set_uj(root, "intel-rapl:0", written[0])
            time.sleep(0.005)

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    try:
        power = wait_for(lambda: (p := by_channel(scrape(agent.url), "wattprint_power_watts").get(PKG)) and p > 1 and p)
        time.sleep(1.2)  # two more intervals, both wholly inside the steady part
        power = by_channel(scrape(agent.url), "wattprint_power_watts")[PKG]
    finally:
        stop.set()
        th.join(5)
    assert power == pytest.approx(rate_w, rel=0.3)

    final_pkg = written[0] + 1_234_567  # counters only grow
    set_uj(root, "intel-rapl:0", final_pkg)
    set_uj(root, "intel-rapl:0:0", 2_250_000)
    want = {PKG: final_pkg / 1e6, DRAM: 2.25}
    found = wait_for(lambda: (f := scrape(agent.url)) and by_channel(f, "wattprint_energy_joules_total") == want and f)
    g, source = expected_intensity("FR")
    [(ilabels, ivalue)] = found["wattprint_grid_intensity_grams_per_kwh"]
    assert ivalue == g and ilabels["source"] == source and ilabels["location"] == "FR"
    assert ilabels["fallback"] == "false"
    grams = by_channel(found, "wattprint_emissions_grams_total")
    for channel, joules in want.items():
        assert grams[channel] == pytest.approx(joules / 3.6e6 * g, rel=1e-9)
    assert by_channel(found, "wattprint_energy_band_ratio") == {PKG: 0.1, DRAM: 0.2}
    assert found["wattprint_pue"][0][1] == 1.0
    # once the counters stand still, an interval later the power is 0
    wait_for(lambda: by_channel(scrape(agent.url), "wattprint_power_watts") == {PKG: 0.0, DRAM: 0.0})

    code, err = agent.stop(signal.SIGTERM)
    assert code == 0, err
    assert "exporter stopped" in err and "Traceback" not in err
    with pytest.raises(OSError):
        urllib.request.urlopen(agent.url, timeout=2)  # the port is closed


def test_ctrl_c_stops_it_cleanly_and_without_a_location_the_fallback_is_labelled(
        agent_tree: tuple[Path, list[Agent]]) -> None:
    root, started = agent_tree
    agent = Agent("--rapl-root", str(root), "--interval", "0.2")
    started.append(agent)
    found = wait_for(lambda: (f := scrape(agent.url)) and "wattprint_grid_intensity_grams_per_kwh" in f and f)
    [(labels, _)] = found["wattprint_grid_intensity_grams_per_kwh"]
    assert labels["fallback"] == "true" and labels["location"] == "WORLD"
    code, err = agent.stop(signal.SIGINT)
    assert code == 0 and "Traceback" not in err and "KeyboardInterrupt" not in err


def test_bind_serves_the_address_asked_for_and_only_it(agent_tree: tuple[Path, list[Agent]]) -> None:
    root, started = agent_tree
    agent = Agent("--rapl-root", str(root), "--bind", "127.0.0.2")
    started.append(agent)
    assert agent.url.startswith("http://127.0.0.2:")
    assert "wattprint_energy_joules_total" in scrape(agent.url)
    with pytest.raises(OSError):  # nothing on the default address at that port
        urllib.request.urlopen(agent.url.replace("127.0.0.2", "127.0.0.1"), timeout=2)
    code, err = agent.stop(signal.SIGHUP)
    assert code == 0, err


def test_a_taken_port_or_a_bad_one_is_one_line_and_exit_2(agent_tree: tuple[Path, list[Agent]]) -> None:
    root, _ = agent_tree
    env = dict(os.environ, PYTHONPATH=SRC)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        r = subprocess.run([sys.executable, "-m", "wattprint.cli.main", "exporter", "--rapl-root", str(root),
                            "--port", port], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"cannot listen on 127.0.0.1 port {port}" in r.stderr and "pick --port" in r.stderr
    for address in ("no such host", "192.0.2.1"):  # not a name, not an address of this machine
        r = subprocess.run([sys.executable, "-m", "wattprint.cli.main", "exporter", "--rapl-root", str(root),
                            "--bind", address], capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert f"cannot listen on {address} port" in r.stderr and "--bind takes an address" in r.stderr
    for bad in ("70000", "-1"):
        r = subprocess.run([sys.executable, "-m", "wattprint.cli.main", "exporter", "--port", bad],
                           capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 2 and "--port must be from 0 to 65535" in r.stderr and r.stderr.count("\n") == 1
    r = subprocess.run([sys.executable, "-m", "wattprint.cli.main", "exporter", "--rapl-root", str(root)],
                       capture_output=True, text=True, env={**env, "WATTPRINT_PROMETHEUS_PORT": "9100"}, timeout=60)
    assert r.returncode == 2 and "WATTPRINT_PROMETHEUS_PORT" in r.stderr and "--port" in r.stderr
