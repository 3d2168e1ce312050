"""reportgen.Recorder as a PyTorch Lightning callback (pip install 'reportgen[lightning]')."""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import lightning.pytorch as pl
import torch

from .recorder import Recorder


class RecorderCallback(pl.Callback):
    """Records a Lightning fit into `path`/<run-id>/ as reportgen.Recorder records a plain loop:

        trainer = L.Trainer(callbacks=[RecorderCallback("runs/my-run")])

    Each optimizer step: the gradients as Lightning hands them to the optimizer (unscaled under AMP,
    accumulated, not yet clipped) and the loss training_step returned (under accumulation, the mean over
    the step's micro-batches); training_step must return its loss. Each training epoch: one frame,
    with the trainer's logged scalars (e.g. val_loss) as epoch_<name>. `config` defaults to the module's
    hyperparameters; the other keywords are Recorder's (every, snapshots, title, figures, ...)."""

    def __init__(self, path: str | Path, config=None, **options):
        self.path, self.config, self.options = path, config, options
        self.recorder: Recorder | None = None
        self.total = 0.0   # the losses Lightning has returned since the last optimizer step
        self.loss: torch.Tensor | None = None   # the step's recorded loss, filled in once its last one arrives

    def on_fit_start(self, trainer, pl_module) -> None:
        config = dict(pl_module.hparams) if self.config is None else self.config
        self.recorder = Recorder(pl_module, self.path, config, **self.options)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.loss = torch.full((), torch.nan, device=next(pl_module.parameters()).device)
        self.recorder.step(loss=self.loss, optimizer=optimizer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # Lightning hands back each micro-batch's loss divided by the number accumulated: their sum is the
        # mean loss of the step, the one its gradient is of
        self.total = self.total + (outputs["loss"] if isinstance(outputs, Mapping) else outputs).detach()
        if self.loss is not None:
            self.loss.copy_(self.total)
            self.loss, self.total = None, 0.0

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        scalars = {re.sub(r"\W", "_", k): v for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        self.recorder.epoch(**scalars)

    def on_fit_end(self, trainer, pl_module) -> None:
        self.recorder.close()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if self.recorder is not None:
            self.recorder.close(exception)
