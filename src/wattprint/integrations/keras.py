"""Keras 3: a ``Callback`` that tracks ``fit()`` with a window per epoch and validation.

``model.fit(..., callbacks=[WattprintCallback(samples_per_epoch=len(x))])``:
the whole ``fit()`` is one run, each epoch a window (``epoch-1`` ...), each
validation a window (``validation``, inside its epoch, as Keras runs it).
Every training batch is a step; samples are counted at each epoch's end when
``samples_per_epoch`` is given (Keras does not tell callbacks the batch
size), tokens likewise with ``tokens_per_epoch``. The figures go into each
epoch's logs (``wattprint/energy_j``, ``wattprint/epoch/energy_j``, and
``val_wattprint/energy_j`` for the validation run in that epoch ...), so ``History``, the progress bar and the
callbacks after this one (TensorBoard, CSVLogger) get them: put it first.

Works with any Keras backend (``KERAS_BACKEND``). Requires ``keras``
(``pip install 'wattprint[keras]'``).
"""

from __future__ import annotations

from typing import Any

from wattprint.integrations._common import PREFIX, Session, log_figures, missing

try:
    import keras as _keras
    from keras.callbacks import Callback
except ImportError as exc:
    raise missing("keras", "keras", exc) from None

__all__ = ["WattprintCallback"]


class WattprintCallback(Callback):
    """Track a Keras ``fit()``; keywords are :class:`~wattprint.Tracker`'s.

    In a job of several processes (a launcher's ``RANK``/``WORLD_SIZE``, or
    ``WATTPRINT_JOB``) every process tracks as one rank of the job, and the
    ranks' runs merge into one job record (see :mod:`wattprint.integrations._common`).
    """

    def __init__(self, name: str | None = None, *, samples_per_epoch: int | None = None,
                 tokens_per_epoch: int | None = None, **tracker_kwargs: Any) -> None:
        super().__init__()
        self.session = Session(name, tracker_kwargs)
        self.samples_per_epoch = samples_per_epoch
        self.tokens_per_epoch = tokens_per_epoch
        self._validation: Any = None  # the last validation's window, until its epoch ends

    @property
    def run(self) -> Any:
        """This process's tracked run (None before ``fit()``)."""
        return self.session.run

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        model = getattr(self, "model", None)
        name = getattr(model, "name", None) or "keras-fit"
        self.session.start(str(name), {"framework": "keras", "keras": _keras.__version__,
                                       "keras_backend": _keras.backend.backend()})

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.session.guard("epoch", lambda: self.session.open("epoch", f"epoch-{epoch + 1}"))

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        run = self.session.run
        if run is not None and self.session.active:
            run.step()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        run = self.session.run
        if run is None or not self.session.active:
            return
        self.session.guard("epoch", lambda: self._end_epoch(run, logs))

    def _end_epoch(self, run: Any, logs: dict[str, Any] | None) -> None:
        if self.samples_per_epoch or self.tokens_per_epoch:
            run.step(0, samples=self.samples_per_epoch, tokens=self.tokens_per_epoch)
        window, validation, self._validation = self.session.close("epoch"), self._validation, None
        if logs is None:
            return
        logs.update(log_figures(run))
        if window is not None:
            logs.update(log_figures(window, PREFIX + "epoch/"))
        if validation is not None:  # named as fit() names the validation's own metrics
            logs.update(log_figures(validation, "val_" + PREFIX))

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.session.guard("validation", lambda: self.session.open("validation", "validation"))

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        # Keras hands callbacks a copy of these logs: the figures join the epoch's logs instead
        self._validation = self.session.close("validation")

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.session.stop()
