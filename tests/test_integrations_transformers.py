"""The Hugging Face integration with the real Trainer: a tiny GPT-2 from a config, CPU, no hub.

Energy comes from the CPU model sensor (TDP × load), so figures are real and
non-zero on any machine; the checks are on what the integration adds up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from realparts import need_module

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

from wattprint.store.sqlite import SqliteStore

try:  # the frameworks are a real part: missing, each test fails in CI and skips elsewhere (below)
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

    from wattprint.integrations.transformers import GenerationMeter, WattprintCallback, track_trainer
except ImportError:
    TrainerCallback = object

pytestmark = pytest.mark.timeout(240)
SEQ = 16


@pytest.fixture(autouse=True)
def _frameworks() -> None:
    need_module("torch", "pip install torch==2.13.0 (.ci/setup.d/30-torch.sh)")
    need_module("transformers", "pip install transformers accelerate (.ci/setup.d/31-frameworks.sh)")
    need_module("accelerate", "pip install accelerate (.ci/setup.d/31-frameworks.sh)")
    need_module("huggingface_hub", "pip install huggingface_hub (.ci/setup.d/31-frameworks.sh)")


def tiny_gpt2() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=1000, eos_token_id=0,
                                      n_positions=64))


def dataset(n: int) -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(1)
    rows = torch.randint(1, 1000, (n, SEQ), generator=g)
    return [{"input_ids": r, "labels": r} for r in rows]


def trainer(tmp_path: Path, callbacks: list[Any] | None = None, **kw: Any) -> Trainer:
    kw = {"num_train_epochs": 2, **kw}
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, per_device_eval_batch_size=4,
        eval_strategy="epoch", logging_steps=1, save_strategy="no", report_to=[],
        use_cpu=True, include_num_input_tokens_seen=True, disable_tqdm=True, **kw,
    )
    return Trainer(model=tiny_gpt2(), args=args, train_dataset=dataset(12), eval_dataset=dataset(8),
                   callbacks=callbacks)


class Reporter(TrainerCallback):
    """Stands for TensorBoard/W&B/MLflow: a callback that sends each log on as it gets it."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        self.sent.append(dict(logs))


def opts(tmp_path: Path) -> dict[str, Any]:
    return {"sensors": "model", "gpus": "none", "country": "FR", "store": str(tmp_path / "runs.db"),
            "interval": 0.2}


def test_train_is_one_run_with_epoch_and_eval_windows_steps_tokens_and_logs(tmp_path: Path) -> None:
    reporter = Reporter()
    tr = trainer(tmp_path, callbacks=[reporter])
    cb = track_trainer(tr, "gpt2-tiny", training_type="pre-training", **opts(tmp_path))
    assert tr.callback_handler.callbacks[0] is cb  # first: reporters see the keys in the same log
    tr.train()
    assert len(reporter.sent) == 9 and all("wattprint/energy_j" in logs for logs in reporter.sent)
    run = cb.run
    assert run is not None and run.status == "finished" and run.energy_j > 0
    # steps, samples and tokens as the Trainer counted them
    assert run.steps == tr.state.global_step == 6
    assert run.samples == 24  # 12 samples x 2 epochs, batches of 4
    assert run.tokens == tr.state.num_input_tokens_seen == 24 * SEQ
    names = [w.name for w in sorted(run.windows, key=lambda w: w.offset_s)]
    assert names == ["epoch-1", "eval", "epoch-2", "eval"]
    epochs = [w for w in run.windows if w.name.startswith("epoch")]
    assert [w.steps for w in epochs] == [3, 3] and [w.tokens for w in epochs] == [12 * SEQ] * 2
    spans = sum(w.energy_j for w in run.windows)  # disjoint windows
    assert 0 < spans <= run.energy_j * (1 + 1e-9)
    # the Trainer's log history holds the figures, growing; evaluations have their own window's
    train_logs = [h for h in tr.state.log_history if "loss" in h]
    assert len(train_logs) == 6
    energies = [h["wattprint/energy_j"] for h in train_logs]
    assert energies == sorted(energies) and energies[-1] <= run.energy_j
    assert all("wattprint/energy_per_token_j" in h and "wattprint/emissions_g" in h for h in train_logs)
    evals = [h for h in tr.state.log_history if "eval_loss" in h]
    assert len(evals) == 2 and all(h["eval_wattprint/energy_j"] > 0 for h in evals)
    assert evals[0]["eval_wattprint/energy_j"] == pytest.approx(
        [w for w in run.windows if w.name == "eval"][0].energy_j)
    # one stored record, with its counts
    store = SqliteStore.open(opts(tmp_path)["store"])
    try:
        stored = store.get_run(run.id)
        assert len(store.list_runs()) == 1
    finally:
        store.close()
    assert stored["progress"] == {"steps": 6, "samples": 24, "tokens": 24 * SEQ}
    assert stored["tags"]["framework"] == "transformers"


def test_the_model_card_carries_co2_eq_emissions_through_the_trainers_path(tmp_path: Path) -> None:
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard import metadata_load

    tr = trainer(tmp_path, num_train_epochs=1)
    cb = track_trainer(tr, training_type="pre-training", **opts(tmp_path))
    tr.train()
    tr.create_model_card(model_name="tiny")
    readme = Path(tr.args.output_dir) / "README.md"
    co2 = ModelCard.load(readme).data.co2_eq_emissions
    assert co2["emissions"] == pytest.approx(cb.run.emissions_g, abs=1e-6)  # written with 6 decimals
    assert co2["training_type"] == "pre-training" and "wattprint" in co2["source"]
    assert co2["geographical_location"] == "France (FR)"  # the place, as the model card names it
    meta = metadata_load(readme)
    assert meta["library_name"] == "transformers"  # the Trainer's own card is kept
    assert meta["co2_eq_emissions"]["emissions"] == co2["emissions"]


def test_a_callback_passed_to_the_trainer_logs_into_the_history(tmp_path: Path) -> None:
    args = TrainingArguments(output_dir=str(tmp_path / "o"), per_device_train_batch_size=4, max_steps=2,
                             logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True)
    cb = WattprintCallback(**opts(tmp_path))
    tr = Trainer(model=tiny_gpt2(), args=args, train_dataset=dataset(12), callbacks=[cb])
    tr.train()
    assert cb.run.steps == 2 and cb.run.tokens == 0  # tokens are not counted unless the Trainer does
    assert all("wattprint/energy_j" in h for h in tr.state.log_history if "loss" in h)


def test_generation_meter_counts_generated_tokens(tmp_path: Path) -> None:
    model = tiny_gpt2().eval()
    prompt = torch.randint(1, 1000, (3, 5))
    with GenerationMeter(model, **opts(tmp_path)) as span:
        for _ in range(2):
            out = model.generate(prompt, max_new_tokens=4, min_new_tokens=4, do_sample=False,
                                 pad_token_id=0)
    assert out.shape == (3, 9)
    assert (span.steps, span.samples, span.tokens) == (2, 6, 24)
    per = span.per("token")
    assert per is not None and per.energy_j == pytest.approx(span.energy_j / 24)
    assert "generate" not in model.__dict__  # the model's own generate is back


def test_generation_meter_counts_what_a_pipeline_generates(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, pipeline

    import wattprint

    words = Tokenizer(models.WordLevel({f"w{i}": i for i in range(1000)}, unk_token="w1"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, eos_token="w0", pad_token="w0", unk_token="w1")
    model = tiny_gpt2().eval()
    pipe = pipeline("text-generation", model=model, tokenizer=tokenizer, device="cpu")
    with wattprint.track("serve", **opts(tmp_path)) as run:  # inside a run: the meter is a window of it
        with GenerationMeter(model) as span:
            pipe(["w5 w6 w7", "w8 w9"], max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert span in run.windows and span.name == "generate"
    assert (span.steps, span.samples, span.tokens) == (2, 2, 8) == (run.steps, run.samples, run.tokens)


DDP_SCRIPT = '''
import json, os, time, torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments
from wattprint.integrations.transformers import track_trainer
torch.manual_seed(0)
model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=1000, eos_token_id=0))
rows = torch.randint(1, 1000, (16, 16), generator=torch.Generator().manual_seed(1))
args = TrainingArguments(os.environ["OUT"], per_device_train_batch_size=2, num_train_epochs=1, report_to=[],
                         use_cpu=True, ddp_backend="gloo", save_strategy="no", logging_steps=1, disable_tqdm=True,
                         include_num_input_tokens_seen=True)
tr = Trainer(model=model, args=args, train_dataset=[{"input_ids": r, "labels": r} for r in rows])
cb = track_trainer(tr, "ddp-tiny", training_type="pre-training", sensors="model", gpus="none", country="FR",
                   store=os.environ["DB"], interval=0.2)
t0 = time.time()
tr.train()
tr.create_model_card(model_name="tiny")  # writes on rank 0 only (the Trainer's own rule)
keys = sorted({k for h in tr.state.log_history for k in h if k.startswith("wattprint/")})
with open(f"rank-{os.environ['RANK']}.json", "w") as fh:  # a file each: the ranks share one stdout
    json.dump({"rank": int(os.environ["RANK"]), "steps": tr.state.global_step, "keys": keys,
               "start_s": cb.run.start_wall - t0, "last": tr.state.log_history[-1], "run": cb.run.id}, fh)
'''


def _torchrun(tmp_path: Path, script: str, *launcher: str) -> tuple[list[dict[str, Any]], float]:
    """Run ``script`` as 2 ranks; what each rank wrote to ``rank-N.json``, and the launch's wall time."""
    import json
    import subprocess
    import sys
    import time

    path = tmp_path / "ddp.py"
    path.write_text(script, encoding="utf-8")
    env = dict(os.environ, OUT=str(tmp_path / "out"), DB=str(tmp_path / "runs.db"), HF_HUB_OFFLINE="1",
               PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"), WATTPRINT_NO_CLOUD_PROBE="1",
               # a rank left out of the job layer's collective would stall the others this long:
               # past the launch's own timeout below, so a stall fails the test instead of passing late
               WATTPRINT_JOB_TIMEOUT_S="600")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, *launcher, str(path)], capture_output=True, text=True, env=env,
                       timeout=200, cwd=tmp_path)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr[-3000:]
    return [json.loads((tmp_path / f"rank-{rank}.json").read_text(encoding="utf-8")) for rank in (0, 1)], took


def test_two_ranks_under_torchrun_give_one_job_record_with_every_ranks_counts(tmp_path: Path) -> None:
    from huggingface_hub import ModelCard

    from test_integrations_lightning_keras import one_job_record

    # --standalone: a free port, not the fixed 29500 another launch may still hold
    ranks, took = _torchrun(tmp_path, DDP_SCRIPT, "-m", "torch.distributed.run", "--standalone",
                            "--nproc_per_node=2")
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["steps"] == 4 for r in ranks)
    assert all(r["start_s"] < 20 for r in ranks), ranks  # every rank joined at once: no collective timed out
    view, partials = one_job_record(tmp_path / "runs.db")  # one job record, ranks listed, devices once
    job = view["job"]
    assert [p["id"] for p in partials] == [r["run"] for r in ranks]
    # 16 samples: 4 optimizer steps x 2 per device x 2 ranks; each rank counted its own 8;
    # the Trainer's token count is the job's already (gathered): rank 0 counts it
    assert [p["progress"]["samples"] for p in partials] == [8, 8]
    assert view["progress"] == {"steps": 4, "samples": 16, "tokens": 16 * 16}
    assert [p.get("progress", {}).get("samples") for p in job["parts"]] == [8, 8]
    # rank 0 alone logs; its last log (train()'s summary) has the job's totals
    assert ranks[1]["keys"] == [] and "wattprint/energy_j" in ranks[0]["keys"]
    last = ranks[0]["last"]
    assert last["wattprint/job/energy_j"] == pytest.approx(view["energy_j"])
    assert last["wattprint/job/ranks"] == 2
    assert last["wattprint/job/energy_per_sample_j"] == pytest.approx(view["energy_j"] / 16)
    # and the model card, written through the Trainer's path, the job's emissions
    co2 = ModelCard.load(tmp_path / "out" / "README.md").data.co2_eq_emissions
    assert co2["emissions"] == pytest.approx(view["emissions_g"], abs=1e-6)
    assert took < 200
