"""Hugging Face Transformers: a ``TrainerCallback`` and a meter for ``generate()`` and pipelines.

``track_trainer(trainer)`` (or ``Trainer(callbacks=[WattprintCallback()])``)
tracks the whole ``train()`` as one run, a window per epoch (``epoch-1`` ...)
and per evaluation (``eval``), counts the Trainer's optimizer steps, samples
(steps × the global batch size; a short last batch counts whole) and, with
``include_num_input_tokens_seen``, its input tokens; puts energy and CO2e
into every log (``wattprint/energy_j`` ...; ``eval_wattprint/…`` for an
evaluation's own window), so they reach ``log_history`` and the Trainer's
reporters (TensorBoard, W&B, MLflow); and, through ``track_trainer``, adds
``co2_eq_emissions`` to the README that ``trainer.create_model_card()`` (and
``push_to_hub``) writes.

Under ``torchrun``/Accelerate/DeepSpeed every rank's callback tracks as one
rank of the job and rank 0 stores one job record (each device counted once;
samples and tokens add up over the ranks, steps are the Trainer's global
steps). Only rank 0 logs: its own part while training, and in the final
training log (its summary: ``train_loss``, ``total_flos``; once every rank stopped) the
job's totals as ``wattprint/job/…``; the model card has the job's figures.

``GenerationMeter(model)`` counts the tokens ``model.generate`` produces (also
when a pipeline calls it) for energy per generated token.

Requires ``transformers`` (``pip install 'wattprint[transformers]'``).
"""

from __future__ import annotations

import functools
import os
from typing import Any

from wattprint.integrations._common import PREFIX, Session, job_figures, job_view, log_figures, missing
from wattprint.tracking.track import active_run

try:
    import transformers as _transformers
    from transformers import TrainerCallback
except ImportError as exc:
    raise missing("transformers", "transformers", exc) from None

__all__ = ["GenerationMeter", "WattprintCallback", "generated_tokens", "track_trainer"]
# the keys of the summary train() logs once it is done (periodic logs may carry ``train_runtime``)
FINAL_LOG = {"train_loss", "total_flos"}


class WattprintCallback(TrainerCallback):
    """Track a Trainer's ``train()``: one run, windows per epoch and evaluation, figures in its logs.

    Keywords are :class:`~wattprint.Tracker`'s (``country=``, ``store=``,
    ``tags=`` ...), checked when training starts; ``name`` defaults to the
    Trainer's ``run_name``. ``training_type`` (``"pre-training"`` or
    ``"fine-tuning"``) goes into the model card. In a job of several
    processes every rank tracks its part of one job and rank 0 alone logs
    (see :mod:`wattprint.integrations._common`). ``run`` is this process's
    run once training started (live figures while it trains); ``job``, on
    rank 0 once training ended, the job's merged record.
    """

    def __init__(self, name: str | None = None, *, training_type: str | None = None, **tracker_kwargs: Any) -> None:
        self.session = Session(name, tracker_kwargs)
        self.training_type = training_type
        self._step = 0
        self._tokens = 0
        self._eval_open = False
        self._main = True  # the job's rank 0 (or the only process): the one that logs

    @property
    def run(self) -> Any:
        """This process's tracked run (None before training starts)."""
        return self.session.run

    @property
    def job(self) -> Any:
        """The job's merged record (a dict) on rank 0 of a multi-process job once training ended."""
        return job_view(self.session.tracker)

    # -- training --

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # every rank, at the same point: the job layer's start is a collective of all ranks
        self._main = bool(state.is_world_process_zero)
        tags = {"framework": "transformers", "transformers": _transformers.__version__}
        if getattr(args, "world_size", 1) > 1:
            tags.update(world_size=str(args.world_size))
        self.session.start(str(getattr(args, "run_name", None) or "hf-train"), tags)
        self._step, self._tokens = state.global_step, int(getattr(state, "num_input_tokens_seen", 0) or 0)

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        epoch = int(state.epoch or 0) + 1
        self.session.guard("epoch", lambda: self.session.open("epoch", f"epoch-{epoch}"))

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.session.guard("epoch", lambda: self.session.close("epoch"))

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        run = self.session.run
        if run is None or not self.session.active:
            return
        steps = state.global_step - self._step
        if steps <= 0:
            return
        tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)  # the whole job's: rank 0 counts it
        batch = args.train_batch_size * args.gradient_accumulation_steps  # this process's share of a step
        run.step(steps, samples=steps * batch, tokens=max(0, tokens - self._tokens) if self._main else 0)
        self._step, self._tokens = state.global_step, tokens

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.on_step_end(args, state, control)
        self.session.stop()

    # -- evaluation: a window from its first batch to its metrics --

    def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self._eval_open and self.session.active:
            self._eval_open = True
            self.session.guard("eval", lambda: self.session.open("eval", "eval"))

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._eval_open = False
        self.session.guard("eval", lambda: self.session.close("eval"))

    on_predict = on_evaluate

    # -- logs --

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        run = self.session.run
        if logs is None or run is None or not self.session.active:
            return
        if self._main:
            self.session.guard("log", lambda: self._add_figures(state, logs, log_figures(run)))
        if FINAL_LOG <= logs.keys():  # train()'s last log, in every rank: the job's exchange at stop
            self.on_step_end(args, state, control)
            self.session.guard("stop", self.session.stop)
            view = self.job
            if self._main and view is not None:
                self.session.guard("log", lambda: self._add_figures(state, logs, job_figures(view)))

    def _add_figures(self, state: Any, logs: dict[str, Any], figures: dict[str, float]) -> None:
        if self._eval_open and any(k.startswith("eval_") for k in logs):
            self._eval_open = False  # the evaluation's metrics: its window ends here
            window = self.session.close("eval")
            if window is not None:
                figures.update(log_figures(window, "eval_" + PREFIX))
        logs.update(figures)
        history = state.log_history
        if history and history[-1].get("step") == state.global_step and set(logs) - set(figures) <= set(history[-1]):
            history[-1].update(figures)  # the Trainer copied ``logs`` there before calling us

    # -- model card --

    def model_card_data(self) -> dict[str, Any]:
        """The model card's ``co2_eq_emissions`` (grams CO2e, location-based) for the finished run."""
        import yaml

        from wattprint.report import modelcard
        from wattprint.report.schema import build_report

        if self.session.run is None:
            raise RuntimeError("no tracked training run yet: call trainer.train() first")
        record = self.job or self.session.run.to_dict()  # a multi-process job's: its merged record
        text = modelcard.render(build_report(record), training_type=self.training_type)
        data: dict[str, Any] = yaml.safe_load(text)["co2_eq_emissions"]
        return data

    def update_model_card(self, path: str | os.PathLike[str]) -> None:
        """Add ``co2_eq_emissions`` to the model card at ``path`` (a README.md), keeping the rest."""
        from huggingface_hub import ModelCard

        card = ModelCard.load(str(path))
        card.data.co2_eq_emissions = self.model_card_data()
        card.save(str(path))


def track_trainer(trainer: Any, name: str | None = None, **kwargs: Any) -> WattprintCallback:
    """Attach a :class:`WattprintCallback` to ``trainer`` first in line, and its model card.

    First in line: the Trainer's reporters (TensorBoard, W&B, MLflow) see the
    energy keys in the same log. ``trainer.create_model_card()`` (and
    ``push_to_hub``) then also write ``co2_eq_emissions`` into the README.
    """
    callback = WattprintCallback(name, **kwargs)
    trainer.callback_handler.callbacks.insert(0, callback)
    original = trainer.create_model_card

    @functools.wraps(original)
    def create_model_card(*args: Any, **kw: Any) -> Any:
        result = original(*args, **kw)
        path = os.path.join(trainer.args.output_dir, "README.md")
        if callback.run is not None and trainer.is_world_process_zero() and os.path.exists(path):
            callback.update_model_card(path)
        return result

    trainer.create_model_card = create_model_card
    return callback


# -- inference --------------------------------------------------------------------------


def generated_tokens(output: Any, prompt_len: int, eos_token_id: Any = None) -> int:
    """Tokens ``generate()`` produced: per sequence, those after the prompt up to its first EOS."""
    sequences = getattr(output, "sequences", output)
    new = sequences[:, prompt_len:]
    if eos_token_id is None:
        return int(new.numel())
    eos = eos_token_id if isinstance(eos_token_id, (list, tuple)) else [eos_token_id]
    total = 0
    for row in new.tolist():
        ends = [i for i, t in enumerate(row) if t in eos]
        total += ends[0] + 1 if ends else len(row)
    return total


class GenerationMeter:
    """``with GenerationMeter(model) as span:`` count what ``model.generate`` produces inside.

    Each call is a step, its batch the samples, its new tokens the tokens, so
    ``span.per("token")`` is the energy per generated token. The span is a
    window of the enclosing tracked run, or a run of its own (keywords are
    :class:`~wattprint.Tracker`'s). Works for pipelines too: they call
    ``model.generate``. The model's own ``generate`` is back in place on exit.
    """

    def __init__(self, model: Any, name: str = "generate", **tracker_kwargs: Any) -> None:
        self.model = model
        self.session = Session(name, tracker_kwargs)
        self.span: Any = None

    def __enter__(self) -> Any:
        outer = active_run()
        if outer is not None and outer.status == "running":
            self.span = outer.open_window(self.session.name or "generate")
        else:
            self.span = self.session.start("generate", {"framework": "transformers"}, alone=True)
        generate = self.model.generate
        config = self.model.config

        @functools.wraps(generate)
        def counted(*args: Any, **kw: Any) -> Any:
            out = generate(*args, **kw)
            prompt = kw.get("input_ids", args[0] if args else None)
            prompt_len = 1 if config.is_encoder_decoder or prompt is None else int(prompt.shape[-1])
            eos = kw.get("eos_token_id") or getattr(self.model.generation_config, "eos_token_id", None)
            sequences = getattr(out, "sequences", out)
            self.session.guard("generate", lambda: self.span.step(
                samples=int(sequences.shape[0]), tokens=generated_tokens(out, prompt_len, eos)))
            return out

        self.model.generate = counted
        return self.span

    def __exit__(self, *exc: object) -> None:
        self.model.__dict__.pop("generate", None)
        if self.session.run is not None:
            self.session.stop()
        elif self.span is not None:
            self.span.close()
