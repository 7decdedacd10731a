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

Requires ``lightning`` (``pip install 'wattprint[lightning]'``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wattprint.integrations._common import PREFIX, Session, local_main, log_figures, missing

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
    (e.g. ``lambda b: int(b["attention_mask"].sum())``). In a job of several
    processes only local rank 0 of each machine tracks and logs.
    """

    def __init__(self, name: str | None = None, *, tokens_of: Callable[[Any], int] | None = None,
                 **tracker_kwargs: Any) -> None:
        self.session = Session(name, tracker_kwargs)
        self.tokens_of = tokens_of
        self._step = 0

    @property
    def run(self) -> Any:
        """The tracked run (None before ``fit()``, or on a process that does not track)."""
        return self.session.run

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if not local_main(trainer.local_rank):
            return
        tags = {"framework": "lightning", "lightning": _lightning.__version__}
        if trainer.world_size > 1:
            tags.update(world_size=str(trainer.world_size), node_rank=str(trainer.node_rank))
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
        self.session.guard("log", lambda: pl_module.log_dict(figures, on_step=False, on_epoch=True,
                                                              rank_zero_only=True))

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            self.session.guard("validation", lambda: self.session.open("validation", "validation"))

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        window = self.session.close("validation") if not trainer.sanity_checking else None
        if window is not None:
            figures = log_figures(window, PREFIX + "validation/")
            self.session.guard("log", lambda: pl_module.log_dict(figures, on_step=False, on_epoch=True,
                                                                  rank_zero_only=True))

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self.session.stop()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        status = "interrupted" if isinstance(exception, KeyboardInterrupt) else "failed"
        self.session.stop(status)
