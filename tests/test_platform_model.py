"""The modelled rest of the platform, when to turn it on, the doctor's lines, and NVML under WSL2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fake_gpu import FakeNvml
from powercap_tree import Tree
from wattprint.sensors.base import Channel, Kind, Method, Sensor
from wattprint.sensors.gpu import nvml as nvml_mod
from wattprint.sensors.platform.model import EFFICIENCY, PlatformModel, efficiency, rest_w
from wattprint.sensors.platform.opener import PlatformOptions, datacentre_signs, model_wanted
from wattprint.sensors.registry import open_sensors
from wattprint.tracking.sampler import Sampler

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_efficiency_follows_the_80_plus_points() -> None:
    assert efficiency("platinum", 0.20) == 0.90 and efficiency("platinum", 0.50) == 0.94
    assert efficiency("platinum", 0.35) == pytest.approx(0.92)
    assert efficiency("platinum", 0.02) == 0.90 and efficiency("platinum", 1.7) == 0.91
    assert efficiency("titanium", 0.10) == 0.90 and efficiency("titanium", None) == 0.94
    for level, pts in EFFICIENCY.items():
        assert all(0.8 <= p < 1 for p in pts), level


def test_rest_is_supply_loss_plus_the_constant() -> None:
    assert rest_w(100.0, "platinum", 10.0) == pytest.approx(110 / 0.90 - 100)
    assert rest_w(300.0, "gold", 20.0, psu_w=640.0) == pytest.approx(320 / 0.92 - 300)  # at 50 % load
    assert rest_w(0.0, "bronze", 0.0) == 0.0


class Steady(Sensor):
    """A meter that draws a constant power (the user's own sensor, a power channel)."""

    def __init__(self, watts: float) -> None:
        super().__init__("steady", [Channel("cpu:x", "cpu", Method.POWER_INTEGRATED, Kind.POWER, 0.05)])
        self.watts = watts

    def read(self) -> dict[str, float]:
        return {"cpu:x": self.watts}


def test_the_model_integrates_over_the_components_power() -> None:
    ns = iter(range(10**12, 10**13, 10**9))  # every clock call: one more second
    clock = lambda: next(ns)  # noqa: E731
    model = PlatformModel(["cpu:x"], level="gold", other_w=15.0, clock=clock)
    sampler = Sampler([Steady(200.0), model], clock=clock)
    before = sampler.read_now().totals
    first = before["platform:rest-modelled"]
    totals = sampler.read_now().totals
    # one read_now calls the clock 4 times (2 sensors, the model, the snapshot): the model's reads are
    # 4 s apart, over which the components drew 200 W
    assert totals["platform:rest-modelled"] - first == pytest.approx(rest_w(200.0, "gold", 15.0) * 4)
    assert totals["cpu:x"] - before["cpu:x"] == pytest.approx(200.0 * 4)
    (c,) = model.channels
    assert c.in_total and c.method is Method.MODELLED and c.component == "platform-rest" and c.band == 0.5
    assert "80 PLUS gold" in c.detail


def test_datacentre_signs(tmp_path: Path) -> None:
    dmi = tmp_path / "dmi"
    dmi.mkdir()
    assert datacentre_signs({}, dmi) is None
    assert datacentre_signs({"SLURM_JOB_ID": "42"}, dmi) == "SLURM_JOB_ID is set"
    (dmi / "chassis_type").write_text("10\n")  # a notebook
    assert datacentre_signs({}, dmi) is None
    (dmi / "chassis_type").write_text("23\n")  # rack mount
    assert "server" in (datacentre_signs({}, dmi) or "")
    (dmi / "chassis_type").write_text("1\n")
    (dmi / "sys_vendor").write_text("Amazon EC2\n")
    assert "cloud" in (datacentre_signs({}, dmi) or "")
    laptop = PlatformOptions(model="auto", dmi_root=str(tmp_path / "none"))
    assert model_wanted(laptop, {})[0] is False and model_wanted(laptop, {"KUBERNETES_SERVICE_HOST": "x"})[0]
    assert model_wanted(PlatformOptions(model="off"), {"SLURM_JOB_ID": "1"}) == (False, "platform_model = off")
    # the site setting (which also gives the PUE) decides auto, whatever the environment suggests
    none = str(tmp_path / "none")
    assert model_wanted(PlatformOptions(model="auto", site="personal", dmi_root=none), {"SLURM_JOB_ID": "1"}) == (
        False, "platform_model = auto and site = personal")
    assert model_wanted(PlatformOptions(model="auto", site="aws", dmi_root=none), {}) == (
        True, "platform_model = auto and site = aws")
    assert model_wanted(PlatformOptions(model="off", site="datacentre"), {})[0] is False


def test_opening_adds_the_model_last_only_without_a_meter(tmp_path: Path) -> None:
    rapl = Tree(tmp_path / "pc")
    rapl.zone("intel-rapl:0", "package-0")
    hw = tmp_path / "hwmon"
    hw.mkdir()
    on = PlatformOptions(hwmon_root=str(hw), ipmi="off", model="auto", dmi_root=str(tmp_path / "none"))
    sensors, lines = open_sensors(["rapl", "model", "platform"], rapl_root=rapl.root, platform=on,
                                  env={"SLURM_JOB_ID": "7"})
    try:
        assert sensors[-1].name == "platform-model"
        (c,) = sensors[-1].channels
        assert "SLURM_JOB_ID" in c.detail and c.in_total
        assert all(ch.in_total for s in sensors for ch in s.channels)  # components stay counted
    finally:
        for s in sensors:
            s.close()
    sensors, lines = open_sensors(["rapl", "platform"], rapl_root=rapl.root, platform=on, env={})
    try:
        assert all(s.name != "platform-model" for s in sensors)
        (line,) = [a for a in lines if a.sensor == "platform model"]
        assert not line.available and "personal machine" in line.detail and "platform_model" in line.fix
    finally:
        for s in sensors:
            s.close()


def _wp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": SRC, **env}, timeout=60)


def test_run_shows_both_figures_and_which_one_it_used(tmp_path: Path) -> None:
    rapl = Tree(tmp_path / "pc")
    pkg = rapl.zone("intel-rapl:0", "package-0", energy_uj=0)
    out = tmp_path / "run.json"
    script = f"import time; time.sleep(0.2); open({str(pkg / 'energy_uj')!r}, 'w').write('40000000\\n')"
    r = _wp("run", "--rapl-root", str(rapl.root), "--gpus", "none", "--country", "FR", "--json", str(out),
            "--", sys.executable, "-c", script, env={"WATTPRINT_PLATFORM_MODEL": "on"})
    assert r.returncode == 0, r.stderr
    run = json.loads(out.read_text())
    rest = run["channels"]["platform:rest-modelled"]
    comps = sum(c["energy_j"] for n, c in run["channels"].items() if n != "platform:rest-modelled")
    assert rest["method"] == "modelled" and rest["energy_j"] > 0
    assert run["energy_j"] == pytest.approx(comps + rest["energy_j"])
    assert "rest of the platform" in r.stderr and "modelled ±50%" in r.stderr and "without the model" in r.stderr
    doc = _wp("doctor", "--rapl-root", str(rapl.root), "--country", "FR", env={})
    assert doc.returncode == 0, doc.stderr
    section = doc.stdout.split("Whole-machine power", 1)[1].split("Channels that will be measured", 1)[0]
    for name in ("hwmon", "ipmi", "redfish", "platform model"):
        assert f"-- {name}:" in section, (name, section)
    assert "fix:" in section


def test_wsl2_is_detected_and_nvml_probed_there(tmp_path: Path) -> None:
    root = str(tmp_path)
    assert nvml_mod.wsl_nvml_library(root) is None
    assert nvml_mod._no_driver_on_linux(root) == sys.platform.startswith("linux")
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "dxg").write_text("")
    assert nvml_mod.wsl_nvml_library(root) is None  # /dev/dxg without the NVIDIA library: not NVIDIA
    lib = tmp_path / "usr" / "lib" / "wsl" / "lib"
    lib.mkdir(parents=True)
    (lib / "libnvidia-ml.so.1").write_text("not an ELF file")
    assert nvml_mod.wsl_nvml_library(root) == str(lib / "libnvidia-ml.so.1")
    assert not nvml_mod._no_driver_on_linux(root)  # WSL2: the probe goes on
    if "pynvml" in sys.modules or not sys.platform.startswith("linux"):
        return
    probe = nvml_mod.probe(None, root)
    (line,) = probe.lines
    assert "WSL2" in line.detail and "cannot be loaded" in line.detail and "Windows" in line.fix
    # with the NVML module given (as pynvml would be once the library loads), GPUs are listed as usual
    assert nvml_mod.probe(FakeNvml([]), root).inventory == []


def test_methodology_names_the_modelled_rest() -> None:
    from wattprint.report.schema import build_report
    from wattprint.sensors.platform.model import BAND_MODEL

    chans = {
        "cpu:package-0": {"name": "cpu:package-0", "component": "cpu", "method": "counter", "band": 0.05,
                          "energy_j": 100.0, "in_total": True, "detail": "", "emissions_g": 0.0},
        "platform:rest-modelled": {"name": "platform:rest-modelled", "component": "platform-rest",
                                   "method": "modelled", "band": BAND_MODEL, "energy_j": 22.0, "in_total": True,
                                   "detail": "", "emissions_g": 0.0},
    }
    run = {"id": "r", "name": "n", "status": "finished", "duration_s": 1.0, "energy_j": 122.0, "channels": chans}
    text = " ".join(build_report(run)["methodology"])
    assert "the components (100 J) plus the rest of the platform modelled as 22 J" in text and "±50 %" in text


def test_the_openers_defaults_are_the_readers_defaults() -> None:
    from wattprint.sensors.platform import hwmon, ipmi, opener

    assert opener.HWMON_ROOT == hwmon.DEFAULT_ROOT and opener.IPMI_DEVICES == ipmi.DEVICE_PATHS


def test_attribution_splits_the_whole_machine_as_its_components() -> None:
    """The whole machine's share is the energy-weighted mean of the components' shares, exactly."""
    from wattprint.sensors.platform import elect
    from wattprint.tracking.attribution import Attributor

    cpu = Channel("cpu:package-0", "cpu", Method.COUNTER, Kind.ENERGY, 0.05)
    gpu = Channel("gpu:GPU-a", "gpu", Method.COUNTER, Kind.ENERGY, 0.05)
    whole = Channel("platform:ipmi", "platform", Method.POWER_INTEGRATED, Kind.POWER, 0.05, False)
    sensor = Sensor("s", [cpu, gpu, whole])
    elect([sensor])
    chans = {c.name: c for c in sensor.channels}
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        busy = iter([100.0, 104.0])
        att = Attributor(child.pid, chans, busy_cpu=lambda: next(busy), used_memory=lambda: 10**12,
                         gpu_users=lambda: {"gpu:GPU-a": [1]}, cgroup=None)
        att.tree.cpu_seconds = lambda procs=None: 1.0  # type: ignore[method-assign]
        att._last_tree = 0.0
        energy = {"cpu:package-0": 100.0, "gpu:GPU-a": 60.0, "platform:ipmi": 200.0}
        att.on_interval(energy)
        d = att.to_dict(energy)
        # cpu 1/4 of 100 J, gpu not ours: (25 + 0) / 160 of the whole machine's 200 J
        assert d["channels"]["platform:ipmi"]["energy_j"] == pytest.approx(200.0 * 25.0 / 160.0)
        assert d["machine_energy_j"] == 200.0 and d["energy_j"] == pytest.approx(31.25)
        assert d["rest_of_machine_j"] == pytest.approx(200.0 - 31.25)
    finally:
        child.kill()
        child.wait()
