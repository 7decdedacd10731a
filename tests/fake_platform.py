"""Fake whole-machine hardware at the boundary wattprint reads: an hwmon tree, an ipmitool, a Redfish BMC."""

from __future__ import annotations

import base64
import json
import ssl
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from wattprint.sensors.base import Channel, Kind, Method, Sensor
from wattprint.sensors.platform.opener import PlatformOptions, settle
from wattprint.sensors.platform.total import MeteredTotal
from wattprint.tracking.record import check_run_record
from wattprint.tracking.run import Run
from wattprint.tracking.sampler import Sampler


class HwmonTree:
    """``/sys/class/hwmon`` in a temp dir. Values are rewritten in place (same inode), as sysfs does."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def device(self, name: str, **files: str | int) -> Path:
        dev = self.root / f"hwmon{self.n}"
        self.n += 1
        dev.mkdir()
        (dev / "name").write_text(f"{name}\n")
        for key, value in files.items():
            (dev / key).write_text(f"{value}\n")
        return dev

    @staticmethod
    def set(dev: Path, file: str, value: int | str) -> None:
        with open(dev / file, "r+") as f:  # in place: the sensor keeps the file open
            f.seek(0)
            f.write(f"{value}\n")
            f.truncate()


DCMI_OK = """
    Instantaneous power reading:                   {w} Watts
    Minimum during sampling period:                 40 Watts
    Maximum during sampling period:                432 Watts
    Average power reading over sample period:      {avg} Watts
    IPMI timestamp:                           Thu Jan  1 00:00:00 2026
    Sampling period:                          {period:08d} Seconds.
    Power reading state is:                   activated

"""


def write_ipmitool(bindir: Path, body: str) -> Path:
    """An executable ``ipmitool`` (a shell script) in ``bindir``; put ``bindir`` first on PATH."""
    bindir.mkdir(parents=True, exist_ok=True)
    exe = bindir / "ipmitool"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


def ipmitool_printing(bindir: Path, answer_file: Path) -> Path:
    """An ipmitool that prints whatever ``answer_file`` holds now (tests rewrite it between reads)."""
    return write_ipmitool(bindir, f'[ "$1 $2 $3" = "dcmi power reading" ] || exit 9\nexec cat "{answer_file}"')


# -- Redfish --------------------------------------------------------------------------------


def make_cert(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl CLI); returns (cert = its own CA, key)."""
    cert, key = tmp / "bmc.pem", tmp / "bmc.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


class Bmc:
    """What the imitation BMC serves: resources by path, its credentials, delays and failures."""

    def __init__(self, username: str, password: str) -> None:
        self.auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.docs: dict[str, Callable[[], Any]] = {}
        self.delay_s: dict[str, float] = {}
        self.fail: dict[str, int] = {}
        self.seen_auth: list[str | None] = []
        self.requests: list[str] = []

    def legacy_chassis(self, cid: str, watts: Callable[[], float], supplies: list[float]) -> None:
        base = f"/redfish/v1/Chassis/{cid}"
        self.docs[base] = lambda: {"Id": cid, "Power": {"@odata.id": f"{base}/Power"}}
        self.docs[f"{base}/Power"] = lambda: {
            "PowerControl": [{"PowerConsumedWatts": watts()}],
            "PowerSupplies": [{"MemberId": str(i), "PowerInputWatts": w} for i, w in enumerate(supplies)],
        }

    def subsystem_chassis(self, cid: str, supply_watts: list[Callable[[], float]]) -> None:
        base = f"/redfish/v1/Chassis/{cid}"
        self.docs[base] = lambda: {"Id": cid, "PowerSubsystem": {"@odata.id": f"{base}/PowerSubsystem"}}
        supplies = f"{base}/PowerSubsystem/PowerSupplies"
        self.docs[f"{base}/PowerSubsystem"] = lambda: {"PowerSupplies": {"@odata.id": supplies}}
        members = []
        for i, w in enumerate(supply_watts):
            psu = f"{base}/PowerSubsystem/PowerSupplies/{i}"
            members.append({"@odata.id": psu})
            self.docs[psu] = lambda psu=psu: {"Metrics": {"@odata.id": f"{psu}/Metrics"}}
            self.docs[f"{psu}/Metrics"] = lambda w=w: {"InputPowerWatts": {"Reading": w()}}
        self.docs[f"{base}/PowerSubsystem/PowerSupplies"] = lambda: {"Members": members}

    def environment_chassis(self, cid: str, watts: Callable[[], float]) -> None:
        base = f"/redfish/v1/Chassis/{cid}"
        self.docs[base] = lambda: {"Id": cid, "EnvironmentMetrics": {"@odata.id": f"{base}/EnvironmentMetrics"}}
        self.docs[f"{base}/EnvironmentMetrics"] = lambda: {"PowerWatts": {"Reading": watts()}}

    def collection(self, *ids: str) -> None:
        self.docs["/redfish/v1/Chassis"] = lambda: {
            "Members": [{"@odata.id": f"/redfish/v1/Chassis/{i}"} for i in ids]}


def _handler(bmc: Bmc) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.rstrip("/")
            bmc.requests.append(path)
            bmc.seen_auth.append(self.headers.get("Authorization"))
            time.sleep(bmc.delay_s.get(path, 0.0))
            if self.headers.get("Authorization") != bmc.auth:
                self._send(401, {"error": "unauthorised"})
                return
            if bmc.fail.get(path):
                self._send(bmc.fail[path], {"error": "failing"})
                return
            make = bmc.docs.get(path)
            if make is None:
                self._send(404, {"error": "not found"})
                return
            self._send(200, make())

        def _send(self, code: int, doc: object) -> None:
            body = json.dumps(doc).encode()
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up (its timeout): fine
                pass

    return Handler


@contextmanager
def redfish_server(bmc: Bmc, cert: Path, key: Path) -> Iterator[str]:
    """Serve ``bmc`` over HTTPS on 127.0.0.1; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(bmc))
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def reads_until_a_note(sensor: Any, timeout_s: float) -> tuple[float, list[tuple[str, str]]]:
    """Read ``sensor`` every 10 ms until it notes something (or ``timeout_s``): (slowest read in s, notes)."""
    slowest, notes = 0.0, []
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and not notes:
        t0 = time.perf_counter()
        sensor.read()
        slowest = max(slowest, time.perf_counter() - t0)
        notes += list(sensor.notes)
        time.sleep(0.01)
    return slowest, notes


def wait_until(cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


# -- a machine: a component and a meter, sampled on a fake clock, with a run on it ------------------

S = 10**9  # ns


class Cpu(Sensor):
    """The components: one package drawing a steady power (W), a power channel."""

    def __init__(self, watts: float) -> None:
        super().__init__("cpu", [Channel("cpu:package-0", "cpu", Method.COUNTER, Kind.POWER, 0.05)])
        self.watts = watts

    def read(self) -> dict[str, float]:
        return {"cpu:package-0": self.watts}


class Clock:
    def __init__(self) -> None:
        self.t = 10 * S

    def __call__(self) -> int:
        return self.t


class Machine:
    """A sampler over a component and a meter (settled as wattprint does), and a run on it.

    Without a meter, the model (``model="on"``) adds the rest of the platform instead."""

    def __init__(self, meter: Sensor | None, cpu_w: float = 100.0, model: str = "off",
                 name: str = "job") -> None:
        self.clock = Clock()
        sensors: list[Sensor] = [Cpu(cpu_w)] + ([meter] if meter is not None else [])
        self.lines = settle(sensors, PlatformOptions(model=model, site="datacentre"))
        last = sensors[-1]
        if meter is not None:
            assert isinstance(last, MeteredTotal) and last.inner is meter
        last.clock = self.clock  # type: ignore[attr-defined]  # the guard's, or the model's
        self.guard = last
        self.sampler = Sampler(sensors, clock=self.clock, wall_clock=lambda: 1.7e9 + self.clock.t / S)
        self.run = Run(name=name, sampler=self.sampler, interval_s=1.0, command=None, tags={}, availability=[])
        self.counted = [n for n, c in self.sampler.channels.items() if c.in_total]
        self.seen: list[float] = []

    def tick(self, n: int = 1) -> None:
        """``n`` reads, one second apart, each closing one timeline interval."""
        for _ in range(n):
            self.clock.t += S
            snap = self.sampler.read_now()
            self.seen.append(sum(snap.totals[c] for c in self.counted))
            self.run._on_tick(snap)  # what the sampler's thread does at each tick

    def finish(self) -> dict[str, Any]:
        self.run._finish(self.sampler.read_now())
        self.sampler.close()
        d = self.run.to_dict()
        assert check_run_record(d) is None
        assert all(b >= a for a, b in zip(self.seen, self.seen[1:]))  # the total never fell
        return dict(d)
