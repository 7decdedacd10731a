"""NVIDIA sensor against a fake NVML module: counter, power, modelled paths, faults, processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fake_gpu import FakeAmdSmi, FakeNvGpu, FakeNvml, nv_uuid
from wattprint.sensors.base import Kind, Method
from wattprint.sensors.gpu import nvml as nvml_mod
from wattprint.sensors.gpu.common import IDLE_FRACTION, MAX_TRANSIENT_ERRORS
from wattprint.sensors.gpu.selection import open_gpu_sensors

NO_AMD = FakeAmdSmi([])
SRC = Path(__file__).resolve().parents[1] / "src"


def open_nv(gpus: list[FakeNvGpu], option: str | None = None, env: dict[str, str] | None = None):
    fake = FakeNvml(gpus)
    sensors, lines = open_gpu_sensors(option, env=env or {}, nvml=fake, amdsmi=NO_AMD)
    return fake, sensors, lines


def test_counter_path_gives_joules_since_open() -> None:
    gpu = FakeNvGpu(nv_uuid(1), energy_mj=5_000_000)
    fake, sensors, lines = open_nv([gpu])
    (sensor,) = sensors
    (ch,) = sensor.channels
    assert ch.name == f"gpu:{nv_uuid(1)}"
    assert (ch.component, ch.kind, ch.method, ch.band) == ("gpu", Kind.ENERGY, Method.COUNTER, 0.05)
    assert sensor.read() == {ch.name: 0.0}
    gpu.energy_mj += 12_345
    assert sensor.read()[ch.name] == pytest.approx(12.345)
    gpu.energy_mj += 1_000
    assert sensor.read()[ch.name] == pytest.approx(13.345)
    assert any(line.available and "counter" in line.detail and "550.54.15" in line.detail for line in lines)


def test_counter_reset_keeps_total_and_leaves_a_note() -> None:
    gpu = FakeNvGpu(nv_uuid(1), energy_mj=9_000)
    _, (sensor,), _ = open_nv([gpu])
    gpu.energy_mj = 10_000
    assert sensor.read()[f"gpu:{nv_uuid(1)}"] == pytest.approx(1.0)
    gpu.energy_mj = 500  # driver reloaded: counter restarted
    assert sensor.read()[f"gpu:{nv_uuid(1)}"] == pytest.approx(1.0)
    gpu.energy_mj = 2_500
    assert sensor.read()[f"gpu:{nv_uuid(1)}"] == pytest.approx(3.0)
    assert len(sensor.notes) == 1 and "backwards" in sensor.notes[0][1]
    assert sensor.faults == []


@pytest.mark.parametrize(
    ("arch", "name", "band"),
    [
        (9, "NVIDIA H100 80GB HBM3", 0.15),  # Hopper: 1-s average, part-time sampled
        (7, "NVIDIA A10", 0.15),  # GA102: averaged
        (7, "NVIDIA A100-SXM4-40GB", 0.10),  # GA100: instantaneous
        (4, "Tesla P100-PCIE-16GB", 0.10),  # Pascal: instantaneous
    ],
)
def test_not_supported_counter_falls_back_to_power(arch: int, name: str, band: float) -> None:
    gpu = FakeNvGpu(nv_uuid(2), name=name, arch=arch, energy_mj=None, power_mw=251_500)
    _, (sensor,), lines = open_nv([gpu])
    (ch,) = sensor.channels
    assert (ch.kind, ch.method, ch.band) == (Kind.POWER, Method.POWER_INTEGRATED, band)
    assert sensor.read() == {ch.name: pytest.approx(251.5)}
    gpu.power_mw = 100_000
    assert sensor.read() == {ch.name: pytest.approx(100.0)}
    assert any("nvmlDeviceGetPowerUsage" in line.detail for line in lines)


def test_no_power_reading_is_modelled_from_table_tdp_and_utilisation() -> None:
    gpu = FakeNvGpu(nv_uuid(3), name="NVIDIA H100 80GB HBM3", energy_mj=None, power_mw=None, util_gpu=50)
    _, (sensor,), lines = open_nv([gpu])
    (ch,) = sensor.channels
    assert (ch.kind, ch.method) == (Kind.POWER, Method.MODELLED)
    assert ch.band >= 0.3
    expected = 700 * (IDLE_FRACTION + (1 - IDLE_FRACTION) * 0.5)
    assert sensor.read()[ch.name] == pytest.approx(expected)
    gpu.util_gpu = 0
    assert sensor.read()[ch.name] == pytest.approx(700 * IDLE_FRACTION)
    assert any("modelled" in line.detail and "700 W" in line.detail for line in lines)


def test_unknown_model_uses_enforced_power_limit_or_is_reported_unmeasurable() -> None:
    known_limit = FakeNvGpu(
        nv_uuid(4), name="NVIDIA GRID X9", energy_mj=None, power_mw=None, util_gpu=100, power_limit_mw=120_000
    )
    _, (sensor,), _ = open_nv([known_limit])
    assert sensor.read()[f"gpu:{nv_uuid(4)}"] == pytest.approx(120.0)

    nothing = FakeNvGpu(nv_uuid(5), name="NVIDIA GRID X9", energy_mj=None, power_mw=None)
    fake, sensors, lines = open_nv([nothing])
    assert sensors == []
    assert fake.shutdowns == fake.inits == 1
    (line,) = [x for x in lines if nv_uuid(5) in x.detail]
    assert not line.available and "not in the GPU table" in line.detail


def test_several_gpus_one_sensor_mixed_methods() -> None:
    a = FakeNvGpu(nv_uuid(1), energy_mj=0)
    b = FakeNvGpu(nv_uuid(2), energy_mj=None, power_mw=70_000, name="Tesla T4", arch=6)
    c = FakeNvGpu(nv_uuid(3), energy_mj=None, power_mw=None, util_gpu=100, name="Tesla T4")
    _, (sensor,), lines = open_nv([a, b, c])
    methods = {ch.name: ch.method for ch in sensor.channels}
    assert methods == {
        f"gpu:{nv_uuid(1)}": Method.COUNTER,
        f"gpu:{nv_uuid(2)}": Method.POWER_INTEGRATED,
        f"gpu:{nv_uuid(3)}": Method.MODELLED,
    }
    a.energy_mj = 2_000
    assert sensor.read() == {
        f"gpu:{nv_uuid(1)}": pytest.approx(2.0),
        f"gpu:{nv_uuid(2)}": pytest.approx(70.0),
        f"gpu:{nv_uuid(3)}": pytest.approx(70.0),
    }
    assert len([x for x in lines if x.sensor.startswith("nvml gpu")]) == 3


@pytest.mark.parametrize("error", ["NVMLError_GpuIsLost", "NVMLError_Unknown"])
def test_gpu_lost_mid_run_ends_its_channel_once_and_others_go_on(error: str) -> None:
    a, b = FakeNvGpu(nv_uuid(1), energy_mj=0), FakeNvGpu(nv_uuid(2), energy_mj=0)
    _, (sensor,), _ = open_nv([a, b])
    a.energy_mj = b.energy_mj = 1_000
    assert set(sensor.read()) == {f"gpu:{nv_uuid(1)}", f"gpu:{nv_uuid(2)}"}
    a.lost = error
    b.energy_mj = 3_000
    assert sensor.read() == {f"gpu:{nv_uuid(2)}": pytest.approx(3.0)}
    b.energy_mj = 4_000
    assert sensor.read() == {f"gpu:{nv_uuid(2)}": pytest.approx(4.0)}
    assert len(sensor.faults) == 1
    channel, message = sensor.faults[0]
    assert channel == f"gpu:{nv_uuid(1)}" and error in message
    reads_after_loss = a.reads
    sensor.read()
    assert a.reads == reads_after_loss  # a lost GPU is not polled again
    assert list(sensor.gpu_processes()) == [f"gpu:{nv_uuid(2)}"]


def test_transient_errors_skip_a_reading_and_only_end_the_channel_when_they_persist() -> None:
    gpu = FakeNvGpu(nv_uuid(1), energy_mj=0)
    _, (sensor,), _ = open_nv([gpu])
    gpu.lost = "NVMLError_Timeout"
    assert sensor.read() == {}
    gpu.lost = None
    gpu.energy_mj = 1_000
    assert sensor.read() == {f"gpu:{nv_uuid(1)}": pytest.approx(1.0)}
    assert sensor.faults == []
    gpu.lost = "NVMLError_Timeout"
    for _ in range(MAX_TRANSIENT_ERRORS):
        sensor.read()
    assert len(sensor.faults) == 1 and "Timeout" in sensor.faults[0][1]


def test_gpu_processes_unions_compute_and_graphics_and_skips_unsupported() -> None:
    a = FakeNvGpu(nv_uuid(1), compute_pids=[30, 10], graphics_pids=[10, 20])
    b = FakeNvGpu(nv_uuid(2), compute_pids=None, graphics_pids=None)
    c = FakeNvGpu(nv_uuid(3), compute_pids=[], graphics_pids=None)
    _, (sensor,), _ = open_nv([a, b, c])
    assert sensor.gpu_processes() == {f"gpu:{nv_uuid(1)}": [10, 20, 30], f"gpu:{nv_uuid(3)}": []}
    assert sensor.gpu_process_memory() == {f"gpu:{nv_uuid(1)}": {10: 1 << 20, 20: 1 << 20, 30: 1 << 20}}


def test_library_missing_gives_no_sensor_and_a_doctor_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    probe = nvml_mod.probe()
    assert probe.inventory is None
    (line,) = probe.lines
    assert not line.available and "not installed" in line.detail and "nvidia-ml-py" in line.fix
    sensors, lines = open_gpu_sensors(None, env={}, amdsmi=NO_AMD)
    assert sensors == []
    assert any(x.sensor == "nvml" and "nvidia-ml-py" in x.fix for x in lines)


@pytest.mark.skipif(
    not sys.platform.startswith("linux")
    or any(os.path.exists(p) for p in ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/nvidia0")),
    reason="only meaningful on a Linux machine without the NVIDIA driver",
)
def test_no_driver_skips_importing_pynvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    probe = nvml_mod.probe()
    assert probe.inventory is None
    (line,) = probe.lines
    assert "no NVIDIA driver" in line.detail and line.fix
    assert "pynvml" not in sys.modules  # the ~30 ms import was skipped


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ("NVMLError_LibraryNotFound", "no NVIDIA driver"),
        ("NVMLError_DriverNotLoaded", "not loaded"),
        ("NVMLError_Unknown", "failed to start"),
    ],
)
def test_driver_problems_give_no_sensor_and_say_why(error: str, words: str) -> None:
    fake = FakeNvml([FakeNvGpu(nv_uuid(1))], init_error=error)
    sensors, lines = open_gpu_sensors(None, env={}, nvml=fake, amdsmi=NO_AMD)
    assert sensors == []
    (line,) = [x for x in lines if x.sensor == "nvml"]
    assert not line.available and words in line.detail


def test_no_gpu_at_all_is_said_and_nvml_released() -> None:
    fake, sensors, lines = open_nv([])
    assert sensors == [] and fake.inits == fake.shutdowns == 1
    assert any("found no NVIDIA GPU" in x.detail for x in lines)


def test_close_shuts_nvml_down_once() -> None:
    fake, (sensor,), _ = open_nv([FakeNvGpu(nv_uuid(1))])
    sensor.close()
    sensor.close()
    assert fake.inits == fake.shutdowns == 1


def test_doctor_lists_every_gpu_with_name_uuid_driver_and_method() -> None:
    gpus = [FakeNvGpu(nv_uuid(i), name=f"NVIDIA H100 80GB HBM3 #{i}") for i in range(3)]
    _, (sensor,), lines = open_nv(gpus, env={"CUDA_VISIBLE_DEVICES": "2"})
    per_gpu = {x.sensor: x for x in lines if x.sensor.startswith("nvml gpu")}
    assert set(per_gpu) == {"nvml gpu0", "nvml gpu1", "nvml gpu2"}
    assert per_gpu["nvml gpu2"].available and "counter" in per_gpu["nvml gpu2"].detail
    assert "CUDA_VISIBLE_DEVICES=2" in per_gpu["nvml gpu2"].detail
    for i in (0, 1):
        line = per_gpu[f"nvml gpu{i}"]
        assert not line.available and nv_uuid(i) in line.detail and "550.54.15" in line.detail
        assert "--gpus" in line.fix
    assert [c.name for c in sensor.channels] == [f"gpu:{nv_uuid(2)}"]


def test_mig_instances_measure_the_parent_once_and_say_so() -> None:
    parent = FakeNvGpu(nv_uuid(7), mig=["MIG-aaaa-1", "MIG-bbbb-2", "MIG-cccc-3"])
    other = FakeNvGpu(nv_uuid(8))
    _, (sensor,), lines = open_nv([parent, other], env={"CUDA_VISIBLE_DEVICES": "MIG-aaaa-1,MIG-bbbb-2"})
    (ch,) = sensor.channels
    assert ch.name == f"gpu:{nv_uuid(7)}"
    assert "MIG-aaaa-1" in ch.detail and "MIG-bbbb-2" in ch.detail and "parent" in ch.detail
    assert any(x.available and "whole parent GPU" in x.detail for x in lines)
    # in MIG mode each instance lists its own processes; the parent's channel gathers them
    parent.compute_pids = []
    parent.mig_handles[0].compute_pids = [101]
    parent.mig_handles[2].graphics_pids = [303]
    assert sensor.gpu_processes() == {ch.name: [101, 303]}


def test_nothing_printed_and_pynvml_not_imported_with_wattprint() -> None:
    code = (
        "import sys, wattprint, wattprint.sensors.gpu.selection\n"
        "import wattprint.sensors.gpu.nvml, wattprint.sensors.gpu.amd\n"
        "assert 'pynvml' not in sys.modules and 'amdsmi' not in sys.modules, sorted(sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(SRC)}, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""


def test_open_and_read_print_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    gpu = FakeNvGpu(nv_uuid(1))
    _, (sensor,), _ = open_nv([gpu])
    gpu.lost = "NVMLError_GpuIsLost"
    sensor.read()
    sensor.close()
    assert capsys.readouterr() == ("", "")


STUB_NO_DRIVER = """
class NVMLError(Exception):
    pass
class NVMLError_LibraryNotFound(NVMLError):
    def __str__(self):
        return "NVML Shared Library Not Found"
def nvmlInit():
    raise NVMLError_LibraryNotFound()
"""


@pytest.mark.parametrize(
    ("stub", "words"),
    [
        ("raise ImportError('no module named pynvml')", "needs nvidia-ml-py"),
        (STUB_NO_DRIVER, "no usable NVIDIA driver/GPU"),
    ],
)
def test_gpu_check_benchmark_stops_with_a_clear_message_without_a_gpu(tmp_path: Path, stub: str, words: str) -> None:
    (tmp_path / "pynvml.py").write_text(stub)
    script = SRC.parent / "benchmarks" / "gpu_check.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--seconds", "1"],
        env={"PYTHONPATH": f"{tmp_path}:{SRC}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert words in proc.stderr and "Traceback" not in proc.stderr


def test_windows_on_gpu_channels_through_the_tracker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gpu = FakeNvGpu(nv_uuid(1), energy_mj=0)
    fake = FakeNvml([gpu])
    monkeypatch.setitem(sys.modules, "pynvml", fake)  # what `import pynvml` in the sensor gets
    monkeypatch.setitem(sys.modules, "amdsmi", None)
    import wattprint

    tracker = wattprint.Tracker("gpu", interval=60, gpus="all", rapl_root=tmp_path, store=False, country="FR")
    run = tracker.start()
    channel = f"gpu:{nv_uuid(1)}"
    gpu.energy_mj += 1_000
    with run.window("step") as w:
        gpu.energy_mj += 5_000
    gpu.energy_mj += 2_000
    run = tracker.stop()
    assert w.channels[channel].energy_j == pytest.approx(5.0)
    assert run.channels[channel].energy_j == pytest.approx(8.0)
    assert run.channels[channel].method == "counter"
    assert fake.shutdowns == fake.inits == 1  # the sampler closed the sensor


def test_run_records_gpu_users_and_the_sole_user_flag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        gpus = [FakeNvGpu(nv_uuid(1), compute_pids=[os.getpid(), 999_999]), FakeNvGpu(nv_uuid(2))]
        monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(gpus))
        monkeypatch.setitem(sys.modules, "amdsmi", None)
        import wattprint

        # without attribution: who used each GPU is still recorded
        t = wattprint.Tracker(interval=60, gpus="all", rapl_root=tmp_path, store=tmp_path / "g.db", country="FR")
        t.start()
        run = t.stop()
        assert run.gpu_users == {f"gpu:{nv_uuid(1)}": [os.getpid(), 999_999], f"gpu:{nv_uuid(2)}": []}
        from wattprint.store.sqlite import SqliteStore

        stored = SqliteStore.open(tmp_path / "g.db").get_run(run.id)
        assert stored["gpu_users"][f"gpu:{nv_uuid(2)}"] == []
        assert stored["gpu_models"] == ["NVIDIA H100 80GB HBM3"]
        # with attribution to the child: GPU 1 is used by others only, GPU 2 by nobody
        gpus[1].compute_pids = [child.pid]
        t = wattprint.Tracker(interval=0.02, gpus="all", rapl_root=tmp_path, store=False, country="FR",
                              process=child.pid)
        t.start()
        gpus[0].energy_mj = (gpus[0].energy_mj or 0) + 4_000
        gpus[1].energy_mj = (gpus[1].energy_mj or 0) + 6_000
        run = t.stop()
        att = run.to_dict()["attribution"]
        assert att["gpu_sole_user"][f"gpu:{nv_uuid(2)}"] is True
        assert att["gpu_sole_user"][f"gpu:{nv_uuid(1)}"] is False
        assert att["channels"][f"gpu:{nv_uuid(2)}"]["energy_j"] == pytest.approx(6.0)
        assert att["channels"][f"gpu:{nv_uuid(1)}"]["energy_j"] == 0.0
    finally:
        child.kill()
        child.wait()
