"""The GPU power-limit sweep against a fake NVML whose GPU follows a physical model with a known
optimum, and the limits' restoration whatever happens (in-process; the CLI's signals and kills
are in tests/faults/test_fault_tune_power.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from fake_gpu import FakeNvGpu, FakeNvml, nv_uuid
from wattprint.errors import SensorError
from wattprint.sensors.gpu.limits import PowerLimits
from wattprint.tracking.powertune import candidates, recommend, sweep

STATIC_W = 60.0  # power the board draws whatever the limit (memory, fans, leakage)
ALPHA = 0.7  # speed grows as limit**ALPHA: energy per run (STATIC + L) * L**-ALPHA is least at
OPTIMUM_W = ALPHA * STATIC_W / (1 - ALPHA)  # = 140 W


class ModelledGpu:
    """A workload whose run time and energy follow the GPU's current limit, on a fake clock."""

    def __init__(self, nvml: FakeNvml, noise: float = 0.0, seed: int = 0) -> None:
        self.nvml, self.noise, self.rng = nvml, noise, random.Random(seed)
        self.now = 0.0
        self.runs = 0

    def clock(self) -> float:
        return self.now

    def run_once(self) -> None:
        self.runs += 1
        for gpu in self.nvml.gpus:
            limit_w = gpu.power_limit_mw / 1000  # type: ignore[operator]
            seconds = 100.0 * limit_w ** -ALPHA * (1 + self.rng.uniform(-self.noise, self.noise))
            gpu.energy_mj += round((STATIC_W + limit_w) * seconds * 1000)  # type: ignore[operator]
        self.now += seconds


def _gpu(n: int = 0, **kw: object) -> FakeNvGpu:
    given: dict[str, object] = {"power_limit_mw": 250_000, "limit_range_mw": (100_000, 300_000), **kw}
    return FakeNvGpu(uuid=nv_uuid(n), **given)  # type: ignore[arg-type]


def test_the_sweep_finds_the_known_optimum_and_the_slowdown_bound(tmp_path: Path) -> None:
    nvml = FakeNvml([_gpu()])
    limits = PowerLimits(nvml, journal=tmp_path / "j.json")
    gpu = ModelledGpu(nvml, noise=0.0005, seed=8)  # the optimum is 0.14 % below its neighbours
    watts = candidates(100.0, 300.0, 11)
    assert watts == [300.0, 280.0, 260.0, 240.0, 220.0, 200.0, 180.0, 160.0, 140.0, 120.0, 100.0]
    points = sweep(limits, gpu.run_once, watts, clock=gpu.clock, tolerance=0.05)
    assert [p.limit_w for p in points] == watts and all(p.settled for p in points)
    for p in points:  # each point is the model's figure within the noise
        t = 100.0 * p.limit_w ** -ALPHA
        assert p.seconds == pytest.approx(t, rel=0.02)
        assert p.energy_j == pytest.approx((STATIC_W + p.limit_w) * t, rel=0.02)
    best = recommend(points, 0.10)
    assert best["min_energy"]["limit_w"] == pytest.approx(OPTIMUM_W)
    # at most 10 % slower than 300 W: (300 / L) ** 0.7 <= 1.1 holds for 280 W and 300 W only
    assert best["within_slowdown"]["limit_w"] == 280.0
    assert best["min_energy"]["energy_saving"] == pytest.approx(
        1 - (STATIC_W + 140) * 140 ** -ALPHA / ((STATIC_W + 300) * 300 ** -ALPHA), abs=0.02)
    assert limits.restore() == [] and nvml.gpus[0].power_limit_mw == 250_000
    assert not (tmp_path / "j.json").exists()


def test_noise_that_never_settles_is_said(tmp_path: Path) -> None:
    nvml = FakeNvml([_gpu()])
    gpu = ModelledGpu(nvml, noise=0.3, seed=1)
    (point,) = sweep(PowerLimits(nvml, journal=tmp_path / "j"), gpu.run_once, [200.0], clock=gpu.clock,
                     min_repeats=3, max_repeats=5, tolerance=0.01)
    assert point.repeats == 5 and not point.settled and point.spread > 0.01
    assert gpu.runs == 6  # one warm-up, then five


def test_two_gpus_are_set_together_and_a_crash_mid_sweep_is_restored(tmp_path: Path) -> None:
    nvml = FakeNvml([_gpu(0), _gpu(1)])
    limits = PowerLimits(nvml, journal=tmp_path / "j.json")
    gpu = ModelledGpu(nvml)

    def crashing() -> None:
        if nvml.gpus[0].power_limit_mw == 200_000:
            raise RuntimeError("workload crashed")
        gpu.run_once()

    with pytest.raises(RuntimeError):
        try:
            sweep(limits, crashing, [300.0, 200.0, 100.0], clock=gpu.clock)
        finally:
            assert json.loads((tmp_path / "j.json").read_text()) == {nv_uuid(0): 250.0, nv_uuid(1): 250.0}
            assert limits.restore() == []
    for g in nvml.gpus:
        assert g.power_limit_mw == 250_000 and g.limits_set == [300_000, 200_000, 250_000]
    assert not (tmp_path / "j.json").exists()


def test_a_journal_left_by_a_killed_sweep_is_restored_first(tmp_path: Path) -> None:
    journal = tmp_path / "j.json"
    journal.write_text(json.dumps({nv_uuid(0): 275.0}))
    nvml = FakeNvml([_gpu(0, power_limit_mw=120_000)])  # the killed sweep left it at 120 W
    limits = PowerLimits(nvml, journal=journal)
    (line,) = limits.restore_journal()
    assert "275 W" in line and nvml.gpus[0].power_limit_mw == 275_000 and not journal.exists()
    limits.set_all(150.0)
    assert limits.restore() == [] and nvml.gpus[0].power_limit_mw == 275_000


@pytest.mark.parametrize(("error", "words"), [
    ("NVMLError_NoPermission", "needs root"),
    ("NVMLError_NotSupported", "does not allow its power limit to be set"),
])
def test_no_right_to_set_limits_is_said_before_any_change(tmp_path: Path, error: str, words: str) -> None:
    nvml = FakeNvml([_gpu(set_error=error)])
    limits = PowerLimits(nvml, journal=tmp_path / "j")
    with pytest.raises(SensorError, match=words):
        limits.check_permission()
    assert nvml.gpus[0].limits_set == [] and not (tmp_path / "j").exists()


@pytest.mark.parametrize(("gpu", "words"), [
    (FakeNvGpu(uuid=nv_uuid(0), power_limit_mw=250_000), "does not report its power limits"),
    (FakeNvGpu(uuid=nv_uuid(0), power_limit_mw=250_000, limit_range_mw=(1, 2), energy_mj=None), "no energy counter"),
])
def test_boards_that_cannot_be_tuned(tmp_path: Path, gpu: FakeNvGpu, words: str) -> None:
    nvml = FakeNvml([gpu])
    with pytest.raises(SensorError, match=words):
        PowerLimits(nvml, journal=tmp_path / "j")
    assert nvml.shutdowns == 1


def test_a_missing_gpu_index_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SensorError, match="this machine has 1"):
        PowerLimits(FakeNvml([_gpu()]), indices=[3], journal=tmp_path / "j")
