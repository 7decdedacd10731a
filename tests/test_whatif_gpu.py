"""``wattprint whatif --gpu``: a run carried to another GPU model, against hand-computed cases,
the datasheet table's own consistency, and the real CLI on a run stored from a fake NVML GPU."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import wattprint as wp
from wattprint.errors import ReportError
from wattprint.report.whatif_gpu import PRECISIONS, TABLE, busy_share, find_model, gpu_models, gpu_whatif

SRC = str(Path(__file__).resolve().parents[1] / "src")
pytestmark = pytest.mark.timeout(120)


def a100_run(gpu_j: float = 28_000.0, rest_j: float = 5_000.0, models: tuple[str, ...] = ("NVIDIA A100-SXM4-80GB",)
             ) -> dict[str, Any]:
    """100 s on one A100 SXM4 (400 W) at a mean 280 W, plus 5 kJ of CPU, priced at 0.1 g/kJ."""
    return {"id": "abcdef123", "name": "train", "duration_s": 100.0, "energy_j": gpu_j + rest_j,
            "emissions_g": (gpu_j + rest_j) * 1e-4, "gpu_models": list(models),
            "channels": {"gpu:GPU-1": {"component": "gpu", "in_total": True, "energy_j": gpu_j},
                         "cpu:package-0": {"component": "cpu", "in_total": True, "energy_j": rest_j},
                         "psys": {"component": "psys", "in_total": False, "energy_j": 99_999.0}}}


def model(name: str) -> Any:
    found = find_model(name)
    assert found is not None, name
    return found


def test_a100_to_h100_by_hand() -> None:
    # by hand: p = 280/400 = 0.7; busy u = (0.7 - 0.11)/0.89 = 0.66292; BF16 peaks 312 -> 989.5 TFLOPS,
    # r = 0.31531; time 100 × (1 - u + u·r) = 54.61 s; GPU 700 × (0.11 × 54.61 + 0.89 × u × 100 × r)
    # = 700 × (6.0072 + 18.6034) = 17 227 J; CPU 5 000 × 0.5461 = 2 730.5 J; total 19 958 J; 1.9958 g
    measured, h100 = gpu_whatif(a100_run(), [model("H100-SXM")])
    assert measured["gpu"] == "A100 SXM4" and measured["method"] == "measured"
    assert (measured["duration_s"], measured["energy_j"]) == (100.0, 33_000.0)
    assert measured["emissions_g"] == pytest.approx(3.3)
    assert h100["method"] == "modelled" and h100["tdp_w"] == 700 and h100["tflops"] == 989.5
    assert h100["busy_share"] == pytest.approx(0.66292, rel=1e-4)
    assert h100["duration_s"] == pytest.approx(54.61, rel=1e-3)
    assert h100["gpu_energy_j"] == pytest.approx(17_227, rel=1e-3)
    assert h100["energy_j"] == pytest.approx(19_958, rel=1e-3)
    assert h100["emissions_g"] == pytest.approx(1.9958, rel=1e-3)
    # the stated band: ×0.5 to ×2 on both
    assert h100["duration_range_s"] == pytest.approx([27.305, 109.22], rel=1e-3)
    assert h100["energy_range_j"] == pytest.approx([9_979, 39_916], rel=1e-3)
    assert (h100["source"], h100["tdp_source"]) == ("tp-h100", "nv-h100")


def test_a_slower_gpu_at_fp16_and_a_missing_figure() -> None:
    # FP16 on a V100 SXM2 (125 TFLOPS, 300 W): r = 312/125 = 2.496; time 100 × (0.33708 + 0.66292 × 2.496)
    # = 199.17 s; GPU 300 × (0.11 × 199.17 + 0.59 × 100 × 2.496) = 300 × (21.909 + 147.26) = 50 751 J
    _, v100 = gpu_whatif(a100_run(), [model("V100 SXM2")], "fp16")
    assert v100["duration_s"] == pytest.approx(199.17, rel=1e-3)
    assert v100["gpu_energy_j"] == pytest.approx(50_751, rel=1e-3)
    assert v100["energy_j"] == pytest.approx(50_751 + 5_000 * 1.9917, rel=1e-3)
    # BF16 on a V100: no figure (no BF16 tensor cores, none confirmed): said, not guessed
    _, none = gpu_whatif(a100_run(), [model("V100 SXM2")], "bf16")
    assert "duration_s" not in none and "not priced" in none["note"]
    # a run measured on a V100 at BF16: its own row is still the measurement; the others are not priced
    own, h100 = gpu_whatif(a100_run(models=("Tesla V100-SXM2-16GB",)), [model("H100 SXM")], "bf16")
    assert own["gpu"] == "V100 SXM2" and own["energy_j"] == 33_000.0 and "not priced" in h100["note"]


def test_an_idle_gpu_only_changes_its_idle_power() -> None:
    # 30 W mean on a 400 W board: below the idle share (44 W), so busy 0: the time stays, and the
    # GPU's energy is the new board's idle power over it: 700 × 0.11 × 100 = 7 700 J
    _, h100 = gpu_whatif(a100_run(gpu_j=3_000.0), [model("H100 SXM")])
    assert h100["busy_share"] == 0.0 and h100["duration_s"] == pytest.approx(100.0)
    assert h100["energy_j"] == pytest.approx(7_700 + 5_000)


def test_the_own_model_gives_back_the_measurement() -> None:
    run = a100_run()
    src = model("A100 SXM4")
    # the formula on the run's own model (r = 1) is the identity; the row says "measured"
    (row,) = gpu_whatif(run, [src])
    assert row["method"] == "measured" and row["energy_j"] == run["energy_j"]
    u = busy_share(280.0, 400.0)
    assert 400 * (0.11 * 100 + 0.89 * u * 100) == pytest.approx(28_000)


@pytest.mark.parametrize(("run", "message"), [
    ({**a100_run(), "channels": {}}, "measured no GPU energy"),
    (a100_run(models=("NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3")), "exactly one"),
    (a100_run(models=("NVIDIA GeForce GTX 1080",)), "not in the throughput table"),
])
def test_runs_that_cannot_be_carried_over_say_why(run: dict[str, Any], message: str) -> None:
    with pytest.raises(ReportError, match=message):
        gpu_whatif(run, [model("H100 SXM")])
    with pytest.raises(ReportError, match="precision"):
        gpu_whatif(a100_run(), [], "int8")


def test_the_table_is_consistent_and_every_row_has_its_sources() -> None:
    rows = gpu_models()
    assert len(rows) >= 6 and len({m.model for m in rows}) == len(rows)
    sources = (TABLE.parent / "SOURCES.md").read_text(encoding="utf-8")
    for m in rows:
        assert f"`{m.source}`" in sources and f"`{m.tdp_source}`" in sources, m
        peaks = [m.tflops[p] for p in PRECISIONS]
        assert any(peaks) and all(x is None or 1 < x < 5_000 for x in peaks), m
        if m.tflops["tf32"] and m.tflops["bf16"]:  # tensor BF16 is twice TF32 on every part listed
            assert m.tflops["bf16"] == pytest.approx(2 * m.tflops["tf32"], rel=0.02), m
        assert find_model(m.model) is m
    # names as NVML reports them find their row through the board power table's patterns
    assert model("NVIDIA H100 80GB HBM3").model == "H100 SXM"
    assert model("NVIDIA A100-PCIE-40GB").model == "A100 PCIe 40GB"
    assert find_model("H100 NVL") is None  # not confirmed, not in the table: never another row's figures


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=SRC), timeout=60)


def test_the_cli_models_a_stored_gpu_run(tmp_path: Path) -> None:
    from fake_gpu import FakeNvGpu, FakeNvml, nv_uuid
    from wattprint.sensors.gpu.selection import open_gpu_sensors

    gpu = FakeNvGpu(nv_uuid(0), name="NVIDIA A100-SXM4-80GB")
    sensors, _ = open_gpu_sensors(None, env={}, nvml=FakeNvml([gpu]), vendors=("nvidia",))
    db = tmp_path / "w.db"
    t = wp.Tracker("gpu \x1b[31m<job>", sensors=sensors, store=db, country="FR", interval=0.05)
    t.start()
    for _ in range(5):
        gpu.energy_mj = (gpu.energy_mj or 0) + 20_000  # 20 J a step
        time.sleep(0.05)
    run = t.stop().to_dict()
    r = cli("whatif", "--db", str(db), "--gpu", "H100-SXM", "--gpu", "l4", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["rows"] == []  # only the GPU rows were asked for
    own, h100, l4 = out["gpu_rows"]
    assert own["energy_j"] == pytest.approx(run["energy_j"]) and own["method"] == "measured"
    assert (h100["gpu"], l4["gpu"]) == ("H100 SXM", "L4") and h100["method"] == "modelled"
    assert h100["duration_s"] <= run["duration_s"] <= l4["duration_s"]  # faster, slower peak than an A100
    text = cli("whatif", "--db", str(db), "--gpu", "all", "--precision", "fp16")
    assert text.returncode == 0, text.stderr
    assert "MODELLED" in text.stdout and "tp-h100" in text.stdout and "nv-h100" in text.stdout
    assert re.search(r"V100 SXM2 +modelled", text.stdout)  # FP16 is known for the V100
    assert "<job>" in text.stdout and "\x1b" not in text.stdout  # the run's name is shown, escaped
    bad = cli("whatif", "--db", str(db), "--gpu", "H100 NVL")
    assert bad.returncode == 2 and "--list-gpus" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    listed = cli("whatif", "--list-gpus")
    assert listed.returncode == 0 and all(m.model in listed.stdout for m in gpu_models())
