"""Redfish against an imitation BMC on 127.0.0.1: TLS with a test CA, basic auth, slow and failing answers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_platform import Bmc, reads_until_a_note, redfish_server, wait_until
from wattprint.sensors.base import Kind, SensorError
from wattprint.sensors.platform.redfish import FIX_CREDS, FIX_TLS, RedfishSensor

pytestmark = pytest.mark.timeout(60)  # each test starts a server and threads

USER, PASSWORD = "operator", "pw-Zq81-never-shown"
SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture
def bmc() -> Bmc:
    return Bmc(USER, PASSWORD)


@pytest.fixture
def url(bmc: Bmc, cert: tuple[Path, Path]) -> Iterator[str]:
    with redfish_server(bmc, *cert) as base:
        yield base


def _open(url: str, cert: tuple[Path, Path], **kw: object) -> RedfishSensor:
    args: dict[str, object] = {"username": USER, "password": PASSWORD, "ca_bundle": str(cert[0]), **kw}
    return RedfishSensor(url, **args)  # type: ignore[arg-type]


def test_legacy_chassis_total_not_its_supplies(bmc: Bmc, url: str, cert: tuple[Path, Path]) -> None:
    watts = [412.0]
    bmc.collection("Enclosure", "1")
    bmc.docs["/redfish/v1/Chassis/Enclosure"] = lambda: {"Id": "Enclosure"}  # reports no power
    bmc.legacy_chassis("1", lambda: watts[0], supplies=[210.0, 215.0, 0.0])
    s = _open(url, cert, every_s=0.05)
    try:
        (c,) = s.channels
        assert (c.name, c.component, c.kind, c.in_total) == ("platform:redfish", "platform", Kind.POWER, False)
        assert "PowerConsumedWatts" in c.detail and "3 power supplies inside it, not added" in c.detail
        assert "chassis 1" in c.detail
        assert s.read() == {"platform:redfish": 412.0}
        watts[0] = 530.0
        wait_until(lambda: s.read() == {"platform:redfish": 530.0})
        assert set(bmc.seen_auth) == {bmc.auth}  # every request authenticated
    finally:
        s.close()
        s.close()


def test_subsystem_supplies_are_summed_and_environment_preferred(bmc: Bmc, url: str, cert: tuple[Path, Path]) -> None:
    bmc.collection("A", "B")
    bmc.subsystem_chassis("A", [lambda: 120.5, lambda: 130.0])
    bmc.environment_chassis("B", lambda: 777.0)
    s = _open(url, cert)
    try:
        assert s.read() == {"platform:redfish": 250.5} and "2 supplies, summed" in s.channels[0].detail
    finally:
        s.close()
    s = _open(url, cert, chassis="B")
    try:
        assert s.read() == {"platform:redfish": 777.0} and "EnvironmentMetrics" in s.channels[0].detail
    finally:
        s.close()
    with pytest.raises(SensorError, match="no chassis 'C'"):
        _open(url, cert, chassis="C")


def test_tls_is_verified_without_the_ca(bmc: Bmc, url: str, cert: tuple[Path, Path]) -> None:
    bmc.collection("1")
    bmc.legacy_chassis("1", lambda: 100.0, [])
    with pytest.raises(SensorError) as err:
        RedfishSensor(url, username=USER, password=PASSWORD)  # the system store does not know our test CA
    assert "not trusted" in str(err.value) and err.value.fix == FIX_TLS
    assert not bmc.requests  # the password never left: the handshake failed first
    with pytest.raises(SensorError, match="https://"):
        RedfishSensor(url.replace("https", "http"), username=USER, password=PASSWORD)
    with pytest.raises(SensorError, match="must not hold credentials") as err:
        RedfishSensor(url.replace("https://", f"https://{USER}:{PASSWORD}@"))
    assert PASSWORD not in str(err.value)


def test_wrong_credentials_and_failing_answers(bmc: Bmc, url: str, cert: tuple[Path, Path]) -> None:
    bmc.collection("1")
    bmc.legacy_chassis("1", lambda: 100.0, [])
    with pytest.raises(SensorError) as err:
        _open(url, cert, password="wrong")
    assert "refused the credentials (HTTP 401)" in str(err.value) and err.value.fix == FIX_CREDS
    assert "wrong" not in str(err.value)
    bmc.fail["/redfish/v1/Chassis"] = 500
    with pytest.raises(SensorError, match="HTTP 500"):
        _open(url, cert)


def test_slow_bmc_times_out_at_open_and_never_blocks_a_read(bmc: Bmc, url: str, cert: tuple[Path, Path]) -> None:
    bmc.collection("1")
    bmc.legacy_chassis("1", lambda: 300.0, [])
    bmc.delay_s["/redfish/v1/Chassis"] = 2.0
    t0 = time.monotonic()
    with pytest.raises(SensorError, match="timed out|failed"):
        _open(url, cert, timeout_s=0.3)
    assert time.monotonic() - t0 < 1.5
    bmc.delay_s.clear()
    s = _open(url, cert, timeout_s=0.3, every_s=0.05)
    try:
        bmc.delay_s["/redfish/v1/Chassis/1/Power"] = 2.0
        slowest, notes = reads_until_a_note(s, 3.0)
        assert slowest < 0.05
        assert notes and "no fresh reading" in notes[0][1]
    finally:
        s.close()


def test_credentials_never_reach_output_or_the_stored_run(bmc: Bmc, url: str, cert: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    bmc.collection("1")
    bmc.legacy_chassis("1", lambda: 350.0, [175.0, 175.0])
    env = {**os.environ, "PYTHONPATH": SRC, "WATTPRINT_REDFISH_URL": url, "WATTPRINT_REDFISH_USERNAME": USER,
           "WATTPRINT_REDFISH_PASSWORD": PASSWORD, "WATTPRINT_REDFISH_CA_BUNDLE": str(cert[0])}
    db, js = tmp_path / "runs.db", tmp_path / "run.json"
    empty = tmp_path / "no-rapl"
    empty.mkdir()
    cmd = [sys.executable, "-m", "wattprint.cli.main"]
    run = subprocess.run([*cmd, "run", "--db", str(db), "--json", str(js), "--rapl-root", str(empty), "--gpus", "none",
                          "--country", "FR", "--", sys.executable, "-c", "import time; time.sleep(0.3)"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "whole machine (platform:redfish)" in run.stderr
    doctor = subprocess.run([*cmd, "doctor", "--rapl-root", str(empty), "--country", "FR"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert doctor.returncode == 0, doctor.stderr
    assert "Whole-machine power" in doctor.stdout and "ok redfish platform:redfish" in doctor.stdout
    assert "redfish_password = '***'" in doctor.stdout or "***" in doctor.stdout
    for text in (run.stdout, run.stderr, doctor.stdout, doctor.stderr, js.read_text()):
        assert PASSWORD not in text and USER not in text
    from wattprint.sensors.platform.opener import PlatformOptions

    assert PASSWORD not in repr(PlatformOptions(redfish_username=USER, redfish_password=PASSWORD))
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("runs.db*"))
    assert stored and PASSWORD.encode() not in stored and USER.encode() not in stored
