"""The step log: what is measured during training, kept on the device and copied back once an epoch."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..store.rundir import STATS, Run
from .stats import global_norm, grad_stats


def auto_every(n_params: int, total_steps: int, disk_mb: float) -> int:
    """The gradient-log interval that keeps the statistics of a whole run under `disk_mb` megabytes."""
    per_event = n_params * len(STATS) * 4 + 8
    events = max(1, int(disk_mb * 1e6 // per_event))
    return max(1, math.ceil(total_steps / events))


def flat_weights(params: list[torch.Tensor]) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1).float() for p in params]).cpu().numpy()


def clip_warning(clipped: np.ndarray, threshold: float | None) -> str:
    """The tuning playbook's warning when clipping acts on more than half of the steps, else ""."""
    share = float(np.mean(clipped)) if threshold is not None and len(clipped) else 0.0
    if share <= 0.5:
        return ""
    return (f"clipping at {threshold:.3g} acted on {share:.0%} of the steps: above half, it is a "
            f"learning-rate cut in disguise")


# the log10|g| columns, as a slice: a list as an index is sent to the device first, which waits for a GPU
LOGS = slice(0, STATS.index("zero_frac"))
L2 = STATS.index("l2")


def unscaled(table: torch.Tensor, unscale: torch.Tensor) -> torch.Tensor:
    """grad_stats of g * unscale from those of g, on the device: the log10 columns shift by
    log10(unscale), l2 scales, zero_frac stays."""
    t = table.double()
    t[:, LOGS] += unscale.double().log10()
    t[:, L2] *= unscale.double()
    return t.float()


def diverged_at(chunk: dict[str, np.ndarray]) -> int | None:
    """The first step of an epoch chunk whose loss or gradient norm is NaN/inf, or None."""
    bad = ~(np.isfinite(chunk["loss"]) & np.isfinite(chunk["grad_norm"]))
    return int(chunk["step"][bad][0]) if bad.any() else None


class StepLog:
    """Per step: loss, accuracy, lr, global gradient norm and whether it exceeds the clipping threshold
    `clip`; every `every` steps: per-tensor gradient statistics; on `snapshot_steps`: the flattened weights.
    Nothing leaves the device until `epoch()`."""

    def __init__(self, model: torch.nn.Module, run: Run, every: int, snapshot_steps=frozenset(),
                 clip: float | None = None):
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.run, self.every, self.snapshot_steps = run, every, snapshot_steps
        self.clip = math.inf if clip is None else clip
        run.write_params([(n, tuple(p.shape)) for n, p in named])
        self._reset()

    def _reset(self):
        self.steps, self.lrs, self.grad_steps = [], [], []
        self.losses, self.accs, self.norms, self.stats, self.clipped = [], [], [], [], []

    def grads(self) -> list[torch.Tensor]:
        return [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]

    def step(self, step: int, loss: torch.Tensor, accuracy: torch.Tensor, lr: float,
             unscale: torch.Tensor | None = None) -> torch.Tensor:
        """Call after backward and before the optimizer step: the gradients are this step's.
        `unscale`: 1 / a GradScaler's scale (on the device) when the gradients are still scaled by it.
        Returns the global gradient norm (on the device), for clipping."""
        grads = self.grads()
        table = grad_stats(grads) if step % self.every == 0 else None
        # on logged steps the table's per-tensor norms give the global one without another pass
        norm = global_norm(grads) if table is None else table[:, L2].double().square().sum().sqrt().float()
        if unscale is not None:
            norm = norm * unscale
        self.steps.append(step)
        self.lrs.append(lr)
        self.losses.append(loss.detach().float())
        self.accs.append(accuracy.detach().float())
        self.norms.append(norm)
        self.clipped.append(norm > self.clip)
        if table is not None:
            self.grad_steps.append(step)
            self.stats.append(table if unscale is None else unscaled(table, unscale))
        return norm

    def snapshot(self, step: int) -> None:
        """Write the weights as they are after `step` (0: at initialisation)."""
        self.run.write_snapshot(step, flat_weights(self.params))

    def epoch(self, epoch: int, **scalars: float) -> dict[str, np.ndarray]:
        """Copy the epoch's measurements back in one transfer, write its chunk, and return it."""
        k, n = len(self.losses), len(self.stats)
        packed = torch.cat([torch.stack(self.losses), torch.stack(self.accs), torch.stack(self.norms),
                            torch.stack(self.clipped).float()]
                           + ([torch.stack(self.stats).float().reshape(-1)] if n else [])).cpu().numpy()
        chunk = {"step": np.asarray(self.steps, np.int64), "loss": packed[:k], "accuracy": packed[k:2 * k],
                 "lr": np.asarray(self.lrs, np.float64), "grad_norm": packed[2 * k:3 * k],
                 "clipped": packed[3 * k:4 * k] > 0, "grad_step": np.asarray(self.grad_steps, np.int64),
                 "grad": packed[4 * k:].reshape(n, len(self.params), len(STATS))}
        chunk.update({f"epoch_{key}": np.asarray(v, np.float64) for key, v in scalars.items()})
        self.run.write_epoch(epoch, **chunk)
        self._reset()
        return chunk
