"""PyTorch Lightning: a ``Callback`` that tracks ``fit()`` with a window per epoch and validation.

``Trainer(callbacks=[WattprintCallback(country="FR")])``: the whole ``fit()``
is one run (sanity checking included), each training epoch a window
(``epoch-1`` ...; validation runs inside it, as Lightning runs it), each
validation a window (``validation``). Steps are the optimizer steps
(``trainer.global_step``), samples each batch's size (Lightning's own
``extract_batch_size``), tokens what ``tokens_of(batch)`` says, if given.
At each epoch's end the figures go to the module's logger
(``wattprint/energy_j``, ``wattprint/epoch/energy_j``,
``wattprint/validation/energy_j`` ...), so they reach TensorBoard, CSV, W&B,
MLflow and ``trainer.callback_metrics``.

With ``strategy="ddp"`` (or any multi-process strategy) every rank tracks as
one rank of the job, and rank 0 stores one job record (each device counted
once; samples and tokens add up over the ranks, steps are the global steps).
Only global rank 0 logs: its own part during ``fit()``, and at its end the
job's totals (``wattprint/job/…``) straight to the trainer's loggers.

Requires ``lightning`` (``pip install 'wattprint[lightning]'``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wattprint.integrations._common import PREFIX, Session, job_figures, job_view, log_figures, missing

try:
    import lightning as _lightning
    from lightning.pytorch.callbacks import Callback
    from lightning.pytorch.utilities.data import extract_batch_size
except ImportError as exc:
    raise missing("lightning", "lightning", exc) from None

__all__ = ["WattprintCallback"]


class WattprintCallback(Callback):
    """Track a Lightning ``fit()``; keywords are :class:`~wattprint.Tracker`'s.

    ``tokens_of``: a function of a training batch giving its token count
    (e.g. ``lambda b: int(b["attention_mask"].sum())``), this process's batch.
    In a job of several processes every rank tracks its part of one job and
    global rank 0 alone logs; ``job`` is, there, the job's merged record once
    ``fit()`` ended.
    """

    def __init__(self, name: str | None = None, *, tokens_of: Callable[[Any], int] | None = None,
                 **tracker_kwargs: Any) -> None:
        self.session = Session(name, tracker_kwargs)
        self.tokens_of = tokens_of
        self._step = 0

    @property
    def run(self) -> Any:
        """This process's tracked run (None before ``fit()``)."""
        return self.session.run

    @property
    def job(self) -> Any:
        """The job's merged record (a dict) on global rank 0 of a multi-process ``fit()`` once it ended."""
        return job_view(self.session.tracker)

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        # every rank, at the same point: the job layer's start is a collective of all ranks
        tags = {"framework": "lightning", "lightning": _lightning.__version__}
        if trainer.world_size > 1:
            tags.update(world_size=str(trainer.world_size))
        self.session.start(type(pl_module).__name__, tags)
        self._step = trainer.global_step

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self.session.guard("epoch", lambda: self.session.open("epoch", f"epoch-{trainer.current_epoch + 1}"))

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        run = self.session.run
        if run is None or not self.session.active:
            return
        self.session.guard("step", lambda: self._count(run, trainer.global_step, batch))

    def _count(self, run: Any, global_step: int, batch: Any) -> None:
        steps, self._step = max(0, global_step - self._step), global_step
        tokens = self.tokens_of(batch) if self.tokens_of is not None else None
        run.step(steps, samples=extract_batch_size(batch), tokens=tokens)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        run = self.session.run
        if run is None or not self.session.active:
            return
        window = self.session.close("epoch")
        figures = log_figures(run)
        if window is not None:
            figures.update(log_figures(window, PREFIX + "epoch/"))
        if trainer.is_global_zero:
            self.session.guard("log", lambda: pl_module.log_dict(figures, on_step=False, on_epoch=True,
                                                                  rank_zero_only=True))

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            self.session.guard("validation", lambda: self.session.open("validation", "validation"))

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        window = self.session.close("validation") if not trainer.sanity_checking else None
        if window is not None and trainer.is_global_zero:
            figures = log_figures(window, PREFIX + "validation/")
            self.session.guard("log", lambda: pl_module.log_dict(figures, on_step=False, on_epoch=True,
                                                                  rank_zero_only=True))

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self.session.stop()
        view = self.job
        if view is not None and trainer.is_global_zero:  # too late for log_dict: to the loggers directly
            self.session.guard("log", lambda: self._log_job(trainer, job_figures(view)))

    @staticmethod
    def _log_job(trainer: Any, figures: dict[str, float]) -> None:
        for logger in trainer.loggers:
            logger.log_metrics(figures, step=trainer.global_step)
            logger.save()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        status = "interrupted" if isinstance(exception, KeyboardInterrupt) else "failed"
        self.session.stop(status)
