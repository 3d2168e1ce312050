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
    hyperparameters; the other keywords are Recorder's (every, snapshots, title, figures, updates, activations,
    sharpness with sharpness_batch, ...; the sharpness needs the module's forward: loss_fn(module(x), y))."""

    def __init__(self, path: str | Path, config=None, **options):
        self.path, self.config, self.options = path, config, options
        self.recorder: Recorder | None = None
        self.total = 0.0   # the losses Lightning has returned since the last optimizer step
        self.loss: torch.Tensor | None = None   # the step's recorded loss, filled in once its last one arrives

    def on_fit_start(self, trainer, pl_module) -> None:
        config = dict(pl_module.hparams) if self.config is None else self.config
        self.recorder = Recorder(pl_module, self.path, config, **self.options)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if all(p.grad is None for p in pl_module.parameters()):   # training_step skipped the batch
            return
        # the recorder keeps this very tensor on the device until epoch(): filled in later, it is seen there
        self.loss = torch.full((), torch.nan, device=next(pl_module.parameters()).device)
        self.recorder.step(loss=self.loss, optimizer=optimizer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if loss is None:   # a batch training_step skipped, or manual optimization that did not say its loss
            if self.loss is not None:
                raise ValueError("RecorderCallback: training_step stepped the optimizer but returned no loss; "
                                 "return it: the run logs it per step")
            return
        # Lightning hands back each micro-batch's loss divided by the number accumulated: their sum is the
        # mean loss of the step, the one its gradient is of
        self.total = self.total + loss.detach()
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
