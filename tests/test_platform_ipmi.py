"""IPMI DCMI through ipmitool: the parser on fixtures, and a fake ipmitool on PATH (slow, failing, garbage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fake_platform import DCMI_OK, ipmitool_printing, reads_until_a_note, wait_until, write_ipmitool
from wattprint.sensors.base import Kind, Method, SensorError
from wattprint.sensors.platform.ipmi import FIX_ROOT, MAX_AVERAGE_S, IpmiSensor, parse_dcmi
from wattprint.sensors.platform.opener import PlatformOptions, open_platform_sensors

pytestmark = pytest.mark.timeout(60)  # each test starts processes or threads

DEACTIVATED = """
    Instantaneous power reading:                     0 Watts
    Minimum during sampling period:                  0 Watts
    Maximum during sampling period:                  0 Watts
    Average power reading over sample period:        0 Watts
    IPMI timestamp:                           Thu Jan  1 00:00:00 1970
    Sampling period:                          00000000 Seconds.
    Power reading state is:                   deactivated
"""


def test_parser_takes_the_short_average_else_the_instant() -> None:
    r = parse_dcmi(DCMI_OK.format(w=220, avg=219, period=1))
    assert (r.instant_w, r.average_w, r.period_s, r.active) == (220.0, 219.0, 1.0, True)
    assert r.watts() == 219.0
    long = parse_dcmi(DCMI_OK.format(w=220, avg=150, period=int(MAX_AVERAGE_S) * 30))
    assert long.watts() == 220.0  # a 5-minute average lags the work: the instant is used
    assert not parse_dcmi(DEACTIVATED).active


@pytest.mark.parametrize("text", ["", "Error: Unable to establish IPMI v2 / RMCP+ session\n",
                                  "Instantaneous power reading: lots Watts\n",
                                  "Instantaneous power reading: 99999999 Watts\n"])
def test_parser_refuses_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_dcmi(text)


def test_fake_ipmitool_on_path_is_read_in_the_background(on_path: Path, tmp_path: Path) -> None:
    answer = tmp_path / "answer.txt"
    answer.write_text(DCMI_OK.format(w=300, avg=310, period=1))
    ipmitool_printing(on_path, answer)
    s = IpmiSensor(require_device=False, every_s=0.05)
    try:
        (c,) = s.channels
        assert (c.name, c.component, c.kind, c.method, c.in_total) == (
            "platform:ipmi", "platform", Kind.POWER, Method.POWER_INTEGRATED, False)
        assert c.update_s == 1.0 and "average over the BMC's 1 s" in c.detail
        assert s.read() == {"platform:ipmi": 310.0}
        answer.write_text(DCMI_OK.format(w=400, avg=420, period=1))
        wait_until(lambda: s.read() == {"platform:ipmi": 420.0})
    finally:
        s.close()
        s.close()


def test_missing_device_or_tool_says_how_to_fix(tmp_path: Path, on_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setenv("PATH", str(on_path))  # only the empty test bin: no ipmitool anywhere
        with pytest.raises(SensorError) as err:
            IpmiSensor(require_device=False)
    assert "ipmitool" in str(err.value) and "install ipmitool" in err.value.fix
    write_ipmitool(on_path, "exit 0")
    with pytest.raises(SensorError) as err:
        IpmiSensor(device_paths=[str(tmp_path / "ipmi0")])
    assert "no in-band device" in str(err.value)


def test_slow_ipmitool_times_out_quickly_with_its_children(on_path: Path) -> None:
    write_ipmitool(on_path, "sleep 30 & sleep 30\necho never")  # a wrapper whose child keeps the pipe open
    t0 = time.monotonic()
    with pytest.raises(SensorError) as err:
        IpmiSensor(require_device=False, timeout_s=0.3)
    assert time.monotonic() - t0 < 5.0
    assert "no answer within 0.3 s" in str(err.value)


def test_failing_ipmitool_and_garbage(on_path: Path) -> None:
    write_ipmitool(on_path, "echo 'Could not open device at /dev/ipmi0: Permission denied' >&2; exit 1")
    with pytest.raises(SensorError) as err:
        IpmiSensor(require_device=False)
    assert "exit 1" in str(err.value) and "Permission denied" in str(err.value) and err.value.fix == FIX_ROOT
    write_ipmitool(on_path, "echo 'DCMI request failed because: Invalid command (c1)'")
    with pytest.raises(SensorError) as err:
        IpmiSensor(require_device=False)
    assert "not a DCMI power reading" in str(err.value)
    write_ipmitool(on_path, f"cat <<'EOF'\n{DEACTIVATED}\nEOF")
    with pytest.raises(SensorError) as err:
        IpmiSensor(require_device=False)
    assert "deactivated" in str(err.value)


def test_a_bmc_that_goes_slow_never_blocks_a_read(on_path: Path, tmp_path: Path) -> None:
    answer = tmp_path / "answer.txt"
    answer.write_text(DCMI_OK.format(w=250, avg=250, period=1))
    flag = tmp_path / "slow"
    write_ipmitool(on_path, f'[ -e "{flag}" ] && exec sleep 30\nexec cat "{answer}"')
    s = IpmiSensor(require_device=False, every_s=0.05, timeout_s=0.5)
    try:
        flag.write_text("")
        slowest, notes = reads_until_a_note(s, 3.0)
        assert slowest < 0.05  # the sampler never waits for the BMC
        assert notes and "no fresh reading" in notes[0][1] and "no answer within" in notes[0][1]
        assert s.read() == {}  # stale: left out (as the total, the components stand in: total.py)
    finally:
        s.close()


def test_the_opener_lines(tmp_path: Path) -> None:
    sensors, lines = open_platform_sensors(PlatformOptions(hwmon_root=str(tmp_path), ipmi="off"))
    assert sensors == []
    by = {a.sensor: a for a in lines}
    assert not by["ipmi"].available and "ipmi = off" in by["ipmi"].detail
    assert not by["hwmon"].available and by["hwmon"].fix


def test_wattprint_run_with_the_bmc_as_its_total(on_path: Path, tmp_path: Path) -> None:
    answer = tmp_path / "answer.txt"
    answer.write_text(DCMI_OK.format(w=200, avg=200, period=1))
    ipmitool_printing(on_path, answer)
    empty = tmp_path / "no-rapl"
    empty.mkdir()
    out = tmp_path / "run.json"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), "WATTPRINT_IPMI": "on"}
    r = subprocess.run([sys.executable, "-m", "wattprint.cli.main", "run", "--rapl-root", str(empty), "--gpus",
                        "none", "--country", "FR", "--json", str(out), "--", sys.executable, "-c",
                        "import time; time.sleep(1.2)"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    run = json.loads(out.read_text())
    ipmi = run["channels"]["platform:ipmi"]
    assert ipmi["in_total"] and ipmi["method"] == "power-integrated"
    assert run["energy_j"] == pytest.approx(200.0 * run["duration_s"], rel=1e-3)  # 200 W, the whole run
    assert "whole machine (platform:ipmi)" in r.stderr
