"""What is measured during training, kept on the device and copied back once an epoch."""
from __future__ import annotations

import math

import numpy as np
import torch

from .rundir import Run
from .stats import STATS, global_norm, grad_stats


def auto_every(n_params: int, total_steps: int, disk_mb: float) -> int:
    """The gradient-log interval that keeps the statistics of a whole run under `disk_mb` megabytes."""
    per_event = n_params * len(STATS) * 4 + 8
    events = max(1, int(disk_mb * 1e6 // per_event))
    return max(1, math.ceil(total_steps / events))


def flat_weights(params: list[torch.Tensor]) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1).float() for p in params]).cpu().numpy()


class Recorder:
    """Per step: loss, accuracy, lr, global gradient norm; every `every` steps: per-tensor gradient
    statistics; on `snapshot_steps`: the flattened weights. Nothing leaves the device until `epoch()`."""

    def __init__(self, model: torch.nn.Module, run: Run, every: int, snapshot_steps=frozenset()):
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.run, self.every, self.snapshot_steps = run, every, snapshot_steps
        run.write_params([(n, tuple(p.shape)) for n, p in named])
        self._reset()

    def _reset(self):
        self.steps, self.lrs, self.grad_steps = [], [], []
        self.losses, self.accs, self.norms, self.stats = [], [], [], []

    def grads(self) -> list[torch.Tensor]:
        return [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]

    def step(self, step: int, loss: torch.Tensor, accuracy: torch.Tensor, lr: float) -> None:
        """Call after backward and before the optimizer step: the gradients are this step's."""
        grads = self.grads()
        self.steps.append(step)
        self.lrs.append(lr)
        self.losses.append(loss.detach().float())
        self.accs.append(accuracy.detach().float())
        self.norms.append(global_norm(grads))
        if step % self.every == 0:
            self.grad_steps.append(step)
            self.stats.append(grad_stats(grads))

    def snapshot(self, step: int) -> None:
        """Write the weights as they are after `step` (0: at initialisation)."""
        self.run.write_snapshot(step, flat_weights(self.params))

    def epoch(self, epoch: int, **scalars: float) -> dict[str, np.ndarray]:
        """Copy the epoch's measurements back in one transfer, write its chunk, and return it."""
        k, n = len(self.losses), len(self.stats)
        packed = torch.cat([torch.stack(self.losses), torch.stack(self.accs), torch.stack(self.norms)]
                           + ([torch.stack(self.stats).float().reshape(-1)] if n else [])).cpu().numpy()
        chunk = {"step": np.asarray(self.steps, np.int64), "loss": packed[:k], "accuracy": packed[k:2 * k],
                 "lr": np.asarray(self.lrs, np.float64), "grad_norm": packed[2 * k:3 * k],
                 "grad_step": np.asarray(self.grad_steps, np.int64),
                 "grad": packed[3 * k:].reshape(n, len(self.params), len(STATS))}
        chunk.update({f"epoch_{key}": np.asarray(v, np.float64) for key, v in scalars.items()})
        self.run.write_epoch(epoch, **chunk)
        self._reset()
        return chunk
