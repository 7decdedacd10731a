"""The sensor registry: choosing families by name, adding one's own sensor, and the tracker's pool."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import wattprint
from fake_gpu import FakeAmdGpu, FakeAmdSmi, FakeNvGpu, FakeNvml, nv_uuid
from fake_rapl import make_tree, set_uj
from wattprint.errors import ConfigError
from wattprint.sensors.base import Channel, Kind, Method, Sensor
from wattprint.sensors.cpu.model import ModelSensor
from wattprint.sensors.cpu.rapl import RaplSensor
from wattprint.sensors.registry import FAMILIES, family_names, open_sensors, parse_choice
from wattprint.tracking.tracker import shared_sampler

SRC = Path(__file__).resolve().parents[1] / "src"


class Counter(Sensor):
    """A user's sensor: cumulative joules from a number the test moves."""

    def __init__(self, name: str = "counter", channel: str = "lab:meter") -> None:
        super().__init__(name, [Channel(channel, "platform", Method.COUNTER, Kind.ENERGY, 0.01, in_total=False)])
        self.joules = 0.0
        self.closed = 0

    def read(self) -> dict[str, float]:
        return {self.channels[0].name: self.joules}

    def close(self) -> None:
        self.closed += 1


# -- the choice ---------------------------------------------------------------------------


def test_none_means_every_family_in_registry_order() -> None:
    assert parse_choice(None) == family_names() == tuple(f.name for f in FAMILIES)
    assert set(family_names()) == {"rapl", "model", "nvml", "amd", "platform"}


def test_names_are_trimmed_lower_cased_and_deduplicated() -> None:
    assert parse_choice(" RAPL, nvml ,rapl") == ("rapl", "nvml")
    assert parse_choice(["model", "Model"]) == ("model",)


def test_unknown_name_is_one_line_with_the_nearest_and_all_names() -> None:
    with pytest.raises(ConfigError) as err:
        parse_choice(["rapl", "nvmll"])
    msg = str(err.value)
    assert "\n" not in msg and "'nvmll'" in msg and "did you mean 'nvml'" in msg
    assert all(name in msg for name in family_names())
    assert isinstance(err.value, wattprint.WattprintError)


@pytest.mark.parametrize("bad", [[], "", [42], 42, [None]])
def test_empty_or_meaningless_choices_are_refused(bad: object) -> None:
    with pytest.raises(ConfigError):
        parse_choice(bad)  # type: ignore[arg-type]


def test_instances_and_factories_are_kept_by_identity() -> None:
    a, b = Counter(), Counter()
    assert parse_choice([a, "rapl", a, b, Counter]) == (a, "rapl", b, Counter)
    assert parse_choice(a) == (a,)


# -- opening ------------------------------------------------------------------------------


def test_rapl_and_model_fill_in_only_what_rapl_lacks(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "powercap", dram=False)
    sensors, _ = open_sensors(["rapl", "model"], rapl_root=root, gpus="none")
    try:
        assert [type(s) for s in sensors] == [RaplSensor, ModelSensor]
        assert [c.name for c in sensors[1].channels] == ["ram"]
    finally:
        for s in sensors:
            s.close()


def test_model_alone_models_the_cpu_even_where_rapl_works(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "powercap")
    sensors, lines = open_sensors(["model"], rapl_root=root)
    try:
        assert [type(s) for s in sensors] == [ModelSensor]
        assert {c.name for c in sensors[0].channels} == {"cpu:model", "ram"}
        assert any(line.sensor == "option rapl_root" and "not used" in line.detail for line in lines)
    finally:
        for s in sensors:
            s.close()


def test_measured_only_says_what_goes_uncounted(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "powercap", dram=False)
    sensors, lines = open_sensors(["rapl"], rapl_root=root)
    try:
        assert [type(s) for s in sensors] == [RaplSensor]
        assert any(not line.available and "memory not counted" in line.detail for line in lines)
    finally:
        for s in sensors:
            s.close()


def test_one_gpu_family_leaves_the_other_vendor_alone() -> None:
    nvml = FakeNvml([FakeNvGpu(nv_uuid(1))])
    amd = FakeAmdSmi([FakeAmdGpu("amd-a")])
    sensors, _ = open_sensors(["nvml"], nvml=nvml, amdsmi=amd, env={})
    try:
        assert [c.name for s in sensors for c in s.channels] == [f"gpu:{nv_uuid(1)}"]
        assert amd.inits == 0 and nvml.inits == 1
    finally:
        for s in sensors:
            s.close()


def test_custom_sensor_and_factory_are_opened_with_their_lines(tmp_path: Path) -> None:
    mine = Counter()
    sensors, lines = open_sensors([mine, lambda: Counter("other", "lab:other")])
    assert sensors[0] is mine and [c.name for s in sensors for c in s.channels] == ["lab:meter", "lab:other"]
    assert [line.sensor for line in lines] == ["counter", "other"]


def test_failing_factory_is_a_line_and_the_rest_is_opened() -> None:
    def broken() -> Sensor:
        raise OSError("meter offline")

    sensors, lines = open_sensors([broken, Counter, lambda: "not a sensor"])
    assert [s.name for s in sensors] == ["counter"]
    assert any(not line.available and "meter offline" in line.detail for line in lines)
    assert any(not line.available and "returned str" in line.detail for line in lines)


def test_a_sensor_repeating_a_channel_is_refused_and_closed(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "powercap")
    twin = Counter("twin", "cpu:package-0")
    sensors, lines = open_sensors(["rapl", twin], rapl_root=root)
    try:
        assert twin not in sensors and twin.closed == 1
        assert any(line.sensor == "twin" and "already measured" in line.detail for line in lines)
    finally:
        for s in sensors:
            s.close()


# -- the tracker --------------------------------------------------------------------------


def test_tracker_refuses_an_unknown_family_before_opening_anything() -> None:
    with pytest.raises(ConfigError, match="did you mean 'rapl'"):
        wattprint.Tracker(sensors=["rappl"], store=False)


def test_tracker_measures_a_users_sensor(tmp_path: Path) -> None:
    meter = Counter()
    t = wattprint.Tracker("mine", sensors=[meter], store=False, country="FR")
    t.start()
    meter.joules = 42.0
    run = t.stop()
    assert run.channels["lab:meter"].energy_j == pytest.approx(42.0)
    assert set(run.channels) == {"lab:meter"}
    assert meter.closed == 1  # the last run using it closed it


def test_track_passes_sensors_as_an_option_not_a_tag(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "powercap")
    with wattprint.track("t", sensors=["rapl"], rapl_root=root, store=False, country="FR") as run:
        set_uj(root, "intel-rapl:0", 2_000_000)
    assert "sensors" not in run.tags
    assert set(run.channels) == {"cpu:package-0", "dram:package-0"}


def test_pool_shares_a_sampler_per_choice_only(tmp_path: Path) -> None:
    root = str(make_tree(tmp_path / "powercap"))
    with shared_sampler(root, "none", ["rapl"]) as (a, _), shared_sampler(root, "none", "RAPL") as (b, _):
        with shared_sampler(root, "none", ["model"]) as (c, _), shared_sampler(root, "none") as (d, _):
            assert a is b
            assert c is not a and d is not a and d is not c
            assert set(a.channels) == {"cpu:package-0", "dram:package-0"}
            assert set(c.channels) == {"cpu:model", "ram"}


# -- doctor -------------------------------------------------------------------------------


def test_doctor_lists_every_family(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "powercap")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.run(
        [sys.executable, "-m", "wattprint.cli.main", "doctor", "--rapl-root", str(root), "--gpus", "none",
         "--country", "FR"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    families = proc.stdout.split("Sensor families", 1)[1].split("\nSensors\n", 1)[0]
    for f in FAMILIES:
        assert f"  {f.name} " in families and f.summary in families
