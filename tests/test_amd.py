"""AMD sensor against a fake amdsmi module: counter (both field names), checks, wrap, fallbacks."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from fake_gpu import FakeAmdGpu, FakeAmdSmi, FakeNvml
from wattprint.sensors.base import Kind, Method
from wattprint.sensors.gpu import amd as amd_mod
from wattprint.sensors.gpu.common import IDLE_FRACTION, Selected
from wattprint.sensors.gpu.selection import open_gpu_sensors


def open_amd(gpus: list[FakeAmdGpu]):
    """Open every fake GPU through amd.probe with no plausibility wait."""
    fake = FakeAmdSmi(gpus)
    probe = amd_mod.probe(fake, check_s=0)
    assert probe.inventory is not None
    sensor, lines = probe.open([Selected(g, "test") for g in probe.inventory], [])
    return fake, sensor, lines


@pytest.mark.parametrize("old_api", [False, True])
def test_counter_path_in_joules_with_resolution(old_api: bool) -> None:
    gpu = FakeAmdGpu("uuid-a", ticks=5_000_000, resolution_uj=15.3, step_ticks=100, old_api=old_api)
    _, sensor, lines = open_amd([gpu])
    (ch,) = sensor.channels
    assert (ch.name, ch.component, ch.kind, ch.method) == ("gpu:uuid-a", "gpu", Kind.ENERGY, Method.COUNTER)
    first = sensor.read()[ch.name]
    gpu.step_ticks = 0
    gpu.ticks += 1_000_000
    assert sensor.read()[ch.name] - first == pytest.approx(1_000_000 * 15.3e-6)
    assert any(x.available and "15.3 µJ/tick" in x.detail and "amdgpu 6.8.5" in x.detail for x in lines)


def test_implausible_counter_falls_back_to_power() -> None:
    # 10**9 ticks × 15 µJ in 0.1 s of device time = 150 kW: not a real board
    gpu = FakeAmdGpu("uuid-b", step_ticks=10**9)
    _, sensor, _ = open_amd([gpu])
    (ch,) = sensor.channels
    assert (ch.kind, ch.method) == (Kind.POWER, Method.POWER_INTEGRATED)
    assert "implausible" in ch.detail
    assert sensor.read() == {ch.name: 400.0}


def test_stuck_counter_with_real_power_falls_back_to_power() -> None:
    gpu = FakeAmdGpu("uuid-c", step_ticks=0, power={"socket_power": 300})
    _, sensor, _ = open_amd([gpu])
    assert sensor.channels[0].method is Method.POWER_INTEGRATED


@pytest.mark.parametrize(
    ("power", "watts"),
    [
        ({"socket_power": 310, "current_socket_power": "N/A", "average_socket_power": 290}, 310.0),
        ({"current_socket_power": "N/A", "average_socket_power": 290}, 290.0),  # ROCm 6.x
        ({"average_socket_power": 0xFFFF, "current_socket_power": 123}, 123.0),
    ],
)
def test_not_supported_counter_integrates_power(power: dict, watts: float) -> None:
    gpu = FakeAmdGpu("uuid-d", ticks=None, power=power)
    _, sensor, _ = open_amd([gpu])
    (ch,) = sensor.channels
    assert (ch.kind, ch.method, ch.band) == (Kind.POWER, Method.POWER_INTEGRATED, 0.15)
    assert sensor.read() == {ch.name: watts}


def test_no_power_is_modelled_from_table_and_activity() -> None:
    gpu = FakeAmdGpu("uuid-e", name="AMD Instinct MI250X/MI250", ticks=None, power=None, gfx_activity=100)
    _, sensor, _ = open_amd([gpu])
    (ch,) = sensor.channels
    assert (ch.kind, ch.method) == (Kind.POWER, Method.MODELLED)
    assert sensor.read()[ch.name] == pytest.approx(560.0)
    gpu.gfx_activity = 0
    assert sensor.read()[ch.name] == pytest.approx(560.0 * IDLE_FRACTION)


def test_unmeasurable_gpu_gets_a_doctor_line_and_no_sensor() -> None:
    gpu = FakeAmdGpu("uuid-f", name="AMD Radeon Mystery", ticks=None, power=None)
    fake, sensor, lines = open_amd([gpu])
    assert sensor is None and fake.shutdowns == 1
    assert any(not x.available and "not in the GPU table" in x.detail for x in lines)


def test_32_bit_counter_wrap_is_unwrapped_and_bounds_the_read_interval() -> None:
    start = 2**32 - 1000
    gpu = FakeAmdGpu("uuid-g", ticks=start - 3000, resolution_uj=10.0, step_ticks=1000)
    _, sensor, _ = open_amd([gpu])
    ch = sensor.channels[0].name
    assert sensor.max_interval_s is not None and sensor.max_interval_s > 0
    before = sensor.read()[ch]
    gpu.step_ticks = 0
    gpu.ticks = 500  # wrapped: 1000 ticks to the top, then 500
    assert sensor.read()[ch] - before == pytest.approx(1500 * 10e-6)
    assert sensor.notes == []


def test_lost_gpu_ends_its_channel_once_others_continue() -> None:
    a = FakeAmdGpu("uuid-1", step_ticks=1000)
    b = FakeAmdGpu("uuid-2", ticks=None, power={"socket_power": 200})
    _, sensor, _ = open_amd([a, b])
    assert set(sensor.read()) == {"gpu:uuid-1", "gpu:uuid-2"}
    a.lost = True
    assert sensor.read() == {"gpu:uuid-2": 200.0}
    assert sensor.read() == {"gpu:uuid-2": 200.0}
    assert len(sensor.faults) == 1 and sensor.faults[0][0] == "gpu:uuid-1"
    assert "NOT_FOUND" in sensor.faults[0][1]


def test_process_lists_dicts_or_bare_pids_and_unsupported_left_out() -> None:
    a = FakeAmdGpu(
        "uuid-1",
        step_ticks=1000,
        pids=[{"pid": 42, "name": "python", "memory_usage": {"vram_mem": 4096}}, {"pid": 7, "mem": 0}],
    )
    b = FakeAmdGpu("uuid-2", step_ticks=1000, pids=[99, 99])
    c = FakeAmdGpu("uuid-3", step_ticks=1000, pids=None)
    _, sensor, _ = open_amd([a, b, c])
    assert sensor.gpu_processes() == {"gpu:uuid-1": [7, 42], "gpu:uuid-2": [99]}
    assert sensor.gpu_process_memory() == {"gpu:uuid-1": {42: 4096, 7: 0}}


def test_close_shuts_down_once() -> None:
    fake, sensor, _ = open_amd([FakeAmdGpu("uuid-1", step_ticks=1000)])
    sensor.close()
    sensor.close()
    assert fake.inits == fake.shutdowns == 1


def test_amdsmi_missing_or_without_rocm_gives_doctor_lines_and_prints_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "amdsmi", None)
    (line,) = amd_mod.probe().lines
    assert not line.available and "not installed" in line.detail and "wattprint[amd]" in line.fix

    # the real package prints to stdout and raises KeyError at import when libamd_smi.so
    # is absent: the probe must find that out without importing it
    pkg = tmp_path / "fakeroot" / "amdsmi"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            print("Unable to find libamd_smi.so library")
            raise KeyError("libamd_smi.so")
            """
        )
    )
    monkeypatch.delitem(sys.modules, "amdsmi")
    monkeypatch.syspath_prepend(str(pkg.parent))
    monkeypatch.setenv("ROCM_PATH", str(tmp_path / "no-rocm"))
    monkeypatch.delenv("ROCM_HOME", raising=False)
    (line,) = amd_mod.probe().lines
    assert not line.available and "libamd_smi.so was not found" in line.detail
    assert "amdsmi" not in sys.modules
    assert capfd.readouterr() == ("", "")


def test_init_failure_gives_no_sensor() -> None:
    sensors, lines = open_gpu_sensors(None, env={}, nvml=FakeNvml([]), amdsmi=FakeAmdSmi([], init_error=True))
    assert sensors == []
    assert any(x.sensor == "amdsmi" and "could not start" in x.detail for x in lines)
