"""The Lightning and Keras callbacks with the real libraries, CPU, tiny models, two epochs each.

Energy comes from the CPU model sensor (TDP × load): real, non-zero figures on any machine.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import pytest

from realparts import need_module

pytestmark = pytest.mark.timeout(240)


def opts(tmp_path: Path) -> dict[str, Any]:
    return {"sensors": "model", "gpus": "none", "country": "FR", "store": str(tmp_path / "runs.db"),
            "interval": 0.2}


def _check_epochs(run: Any, steps_per_epoch: int, samples_per_epoch: int) -> None:
    epochs = sorted((w for w in run.windows if w.name.startswith("epoch-")), key=lambda w: w.offset_s)
    assert [w.name for w in epochs] == ["epoch-1", "epoch-2"]
    assert [w.steps for w in epochs] == [steps_per_epoch] * 2
    assert [w.samples for w in epochs] == [samples_per_epoch] * 2
    assert 0 < sum(w.energy_j for w in epochs) <= run.energy_j * (1 + 1e-9)
    vals = [w for w in run.windows if w.name == "validation"]
    assert len(vals) == 2 and all(w.steps == 0 for w in vals)  # validation counts no training step
    for v in vals:  # each validation lies inside its epoch
        assert any(e.offset_s <= v.offset_s and v.offset_s + v.duration_s <= e.offset_s + e.duration_s + 1e-6
                   for e in epochs)


def test_lightning_fit_is_one_run_with_windows_counts_and_logged_figures(tmp_path: Path) -> None:
    need_module("lightning", "pip install lightning (.ci/setup.d/31-frameworks.sh)")
    import lightning as L
    import torch
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.data import DataLoader, TensorDataset

    from wattprint.integrations.lightning import WattprintCallback

    class Tiny(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(8, 1)

        def training_step(self, batch: Any, _: int) -> torch.Tensor:
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def validation_step(self, batch: Any, _: int) -> None:
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    torch.manual_seed(0)
    train = DataLoader(TensorDataset(torch.randn(20, 8), torch.randn(20, 1)), batch_size=8)  # 8, 8, 4
    val = DataLoader(TensorDataset(torch.randn(8, 8), torch.randn(8, 1)), batch_size=4)
    cb = WattprintCallback("tiny", tokens_of=lambda b: int(b[0].numel()), **opts(tmp_path))
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", devices=1, callbacks=[cb], enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False,
                        logger=CSVLogger(str(tmp_path / "logs")), log_every_n_steps=1)
    trainer.fit(Tiny(), train, val)
    run = cb.run
    assert run.status == "finished" and run.energy_j > 0
    assert (run.steps, run.samples, run.tokens) == (trainer.global_step, 40, 40 * 8) == (6, 40, 320)
    _check_epochs(run, 3, 20)
    metrics = trainer.callback_metrics
    assert 0 < float(metrics["wattprint/epoch/energy_j"]) <= float(metrics["wattprint/energy_j"]) <= run.energy_j
    assert float(metrics["wattprint/validation/energy_j"]) > 0
    assert "wattprint/energy_per_sample_j" in metrics
    with open(Path(trainer.logger.log_dir) / "metrics.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("wattprint/energy_j")]
    assert len(rows) == 2 and float(rows[0]["wattprint/energy_j"]) < float(rows[1]["wattprint/energy_j"])


def test_keras_fit_is_one_run_with_windows_counts_and_history(tmp_path: Path) -> None:
    need_module("keras", "pip install keras (.ci/setup.d/31-frameworks.sh)")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import numpy as np

    if keras.backend.backend() != "torch":
        pytest.skip(f"keras runs on {keras.backend.backend()} here; this test drives the torch backend")
    from wattprint.integrations.keras import WattprintCallback

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 8)).astype("float32"), rng.normal(size=(20, 1)).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)], name="tiny")
    model.compile(optimizer="sgd", loss="mse")
    cb = WattprintCallback(samples_per_epoch=len(x), **opts(tmp_path))
    history = model.fit(x, y, batch_size=8, epochs=2, validation_data=(x[:8], y[:8]), callbacks=[cb], verbose=0)
    run = cb.run
    assert run.status == "finished" and run.name == "tiny" and run.energy_j > 0
    assert (run.steps, run.samples) == (6, 40)
    _check_epochs(run, 3, 20)
    h = history.history
    assert len(h["wattprint/energy_j"]) == 2 and h["wattprint/energy_j"][0] < h["wattprint/energy_j"][1]
    assert h["wattprint/energy_j"][1] <= run.energy_j
    assert all(e > 0 for e in h["wattprint/epoch/energy_j"]) and all(e > 0 for e in h["val_wattprint/energy_j"])
    assert h["wattprint/energy_per_step_j"][1] == pytest.approx(h["wattprint/energy_j"][1] / 6)


@pytest.mark.parametrize(("module", "blocked", "package"), [
    ("keras", "keras", "keras"), ("lightning", "lightning", "lightning"),
    ("transformers", "transformers", "transformers"), ("jupyter", "IPython", "ipython"),
])
def test_a_missing_framework_is_one_line_naming_the_package(module: str, blocked: str, package: str) -> None:
    import subprocess
    import sys

    code = f"import sys; sys.modules[{blocked!r}] = None\nimport wattprint.integrations.{module}"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    extra = "jupyter" if module == "jupyter" else module
    assert last.startswith(f"ImportError: wattprint's {extra} integration needs the '{package}' package")
    assert f"wattprint[{extra}]" in last


def one_job_record(db: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The one job record of 2 ranks on this host in ``db``, checked, and the ranks' partial runs."""
    from wattprint.store.sqlite import SqliteStore

    store = SqliteStore.open(db)
    try:
        heads = store.list_runs()
        views = [store.get_run(h["id"], timeline=False) for h in heads if (h.get("job") or {}).get("merged")]
        assert len(heads) == 3 and len(views) == 1, heads  # two partial runs and one job record
        partials = [store.get_run(h["id"], timeline=False) for h in heads if h["id"] != views[0]["id"]]
    finally:
        store.close()
    view, job = views[0], views[0]["job"]
    assert view["status"] == "finished" and job["ranks_seen"] == job["world_size"] == 2
    assert sorted(p["rank"] for p in job["parts"]) == [0, 1] == sorted(p["job"]["rank"] for p in partials)
    # each device once: the host's modelled CPU, measured by one rank (both ranks share the host)
    assert [c["component"] for c in view["channels"].values()].count("cpu") == 1
    assert sum(len(p["duplicates"]) for p in job["parts"]) == 0
    assert view["energy_j"] == pytest.approx(sum(p["energy_j"] for p in partials))
    return view, sorted(partials, key=lambda p: p["job"]["rank"])


LIGHTNING_DDP = '''
import json, os, time, torch
import lightning as L
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset
from wattprint.integrations.lightning import WattprintCallback

class Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(8, 1)
    def training_step(self, batch, _):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

torch.manual_seed(0)
data = DataLoader(TensorDataset(torch.randn(24, 8), torch.randn(24, 1)), batch_size=4)  # 3 batches a rank
cb = WattprintCallback("ddp-tiny", tokens_of=lambda b: int(b[0].numel()), sensors="model", gpus="none",
                       country="FR", store=os.environ["DB"], interval=0.2)
trainer = L.Trainer(max_epochs=2, accelerator="cpu", devices=2, strategy="ddp", callbacks=[cb],
                    enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                    logger=CSVLogger(os.environ["OUT"]), log_every_n_steps=1)
t0 = time.time()
trainer.fit(Tiny(), data)
with open(f"rank-{trainer.global_rank}.json", "w") as fh:  # a file each: both ranks share one stdout
    json.dump({"rank": trainer.global_rank, "steps": trainer.global_step, "run": cb.run.id,
               "start_s": cb.run.start_wall - t0, "job": cb.job is not None,
               "logs": trainer.logger.log_dir if trainer.global_rank == 0 else None}, fh)
'''


def test_lightning_ddp_on_two_processes_gives_one_job_record_with_every_ranks_counts(tmp_path: Path) -> None:
    need_module("lightning", "pip install lightning (.ci/setup.d/31-frameworks.sh)")
    import json
    import subprocess
    import sys

    script = tmp_path / "ddp.py"
    script.write_text(LIGHTNING_DDP, encoding="utf-8")
    env = dict(os.environ, OUT=str(tmp_path / "logs"), DB=str(tmp_path / "runs.db"), WATTPRINT_NO_CLOUD_PROBE="1",
               PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"),
               WATTPRINT_JOB_TIMEOUT_S="600")  # a rank left out of a collective would stall past the timeout
    # Lightning starts the second process itself (it runs this script again) and joins them over gloo
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=200,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank-{rank}.json").read_text(encoding="utf-8")) for rank in (0, 1)]
    assert [(d["rank"], d["steps"], d["job"]) for d in ranks] == [(0, 6, True), (1, 6, False)]
    assert all(d["start_s"] < 20 for d in ranks), ranks  # no rank waited for a collective to time out
    view, partials = one_job_record(tmp_path / "runs.db")
    job = view["job"]
    assert sorted(p["id"] for p in partials) == sorted(d["run"] for d in ranks)
    # each rank: 6 global steps over 2 epochs, its half of the 24 rows each epoch; samples and tokens add up
    assert [p["progress"] for p in job["parts"]] == [{"steps": 6, "samples": 24, "tokens": 24 * 8}] * 2
    assert view["progress"] == {"steps": 6, "samples": 48, "tokens": 48 * 8}
    # rank 0 alone logs: per epoch its part, at the end the job's totals, into the logger's CSV
    with open(Path(ranks[0]["logs"]) / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len([r for r in rows if r.get("wattprint/energy_j")]) == 2
    final = [r for r in rows if r.get("wattprint/job/energy_j")]
    assert len(final) == 1 and float(final[0]["wattprint/job/energy_j"]) == pytest.approx(view["energy_j"])
    assert float(final[0]["wattprint/job/energy_per_sample_j"]) == pytest.approx(view["energy_j"] / 48)


KERAS_RANK = '''
import os
os.environ.setdefault("KERAS_BACKEND", "torch")
import keras, numpy as np
from wattprint.integrations.keras import WattprintCallback
rank = int(os.environ["RANK"])
x = np.random.default_rng(rank).normal(size=(8 * (rank + 1), 8)).astype("float32")  # rank 1 has twice the data
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)], name="tiny")
model.compile(optimizer="sgd", loss="mse")
cb = WattprintCallback(samples_per_epoch=len(x), sensors="model", gpus="none", country="FR",
                       store=os.environ["DB"], interval=0.2)
model.fit(x, x[:, :1], batch_size=8, epochs=2, callbacks=[cb], verbose=0)
'''


def test_keras_in_two_launched_processes_gives_one_job_record(tmp_path: Path) -> None:
    """No torch.distributed here: the ranks know their job from the launcher's variables alone,
    and the last to finish merges (no collective, so nothing can wait on another rank)."""
    need_module("keras", "pip install keras (.ci/setup.d/31-frameworks.sh)")
    import subprocess
    import sys

    script = tmp_path / "rank.py"
    script.write_text(KERAS_RANK, encoding="utf-8")
    base = dict(os.environ, DB=str(tmp_path / "runs.db"), WATTPRINT_NO_CLOUD_PROBE="1", KERAS_BACKEND="torch",
                PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"), WORLD_SIZE="2",
                TORCHELASTIC_RUN_ID=f"keras-{os.getpid()}")
    procs = [subprocess.Popen([sys.executable, str(script)], env={**base, "RANK": str(r), "LOCAL_RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
             for r in (0, 1)]
    outs = [p.communicate(timeout=200) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    view, _ = one_job_record(tmp_path / "runs.db")
    # steps: the most either counted (rank 1 ran 2 batches an epoch, rank 0 one); samples added up
    assert view["progress"] == {"steps": 4, "samples": 2 * 8 + 2 * 16, "tokens": 0}
