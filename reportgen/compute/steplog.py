"""The step log: what is measured during training, kept on the device and copied back once an epoch."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..store.rundir import ACTS, STATS, Run
from .instruments import Activations, Updates
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
    `clip`; every `every` steps: per-tensor gradient statistics, and with `updates` the update/weight ratios,
    with `activations` the activation modules' health (compute/instruments.py); on `snapshot_steps`: the
    flattened weights; when `sharpness` (a compute.sharpness.Meter) is asked to measure: its values.
    Nothing leaves the device until `epoch()`. `start`: the last step before this log's first."""

    def __init__(self, model: torch.nn.Module, run: Run, every: int, snapshot_steps=frozenset(),
                 clip: float | None = None, *, updates: bool = False, activations: bool = False,
                 sharpness=None, start: int = 0):
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.run, self.every, self.snapshot_steps = run, every, snapshot_steps
        self.clip = math.inf if clip is None else clip
        run.write_params([(n, tuple(p.shape)) for n, p in named])
        self.updates = Updates(self.params) if updates else None
        self.acts = Activations(model) if activations else None
        self.meter = sharpness
        self.next_logged = (start + 1) % every == 0
        if self.acts:
            run.write_instruments(activations=[{"name": n, "kind": k} for n, k in zip(self.acts.names, self.acts.kinds)])
            self.acts.armed = self.next_logged   # the next forward is a logged step's
        self._reset()

    def _reset(self):
        self.steps, self.lrs, self.grad_steps = [], [], []
        self.losses, self.accs, self.norms, self.stats, self.clipped = [], [], [], [], []
        self.ratios, self.health, self.sharp_steps, self.sharp = [], [], [], []

    def stepped(self) -> None:
        """Call after the optimizer stepped (else the next `step` or `epoch` reads its update)."""
        if self.updates and self.updates.pending:
            self.ratios.append(self.updates.after(keep=self.next_logged))

    def sharpness(self, step: int, optimizer, lr: float) -> None:
        """Measure the sharpness of the weights as they are after `step` (0: at initialisation)."""
        armed = self.acts.armed if self.acts else False
        if self.acts:   # its forward passes are no training step's
            self.acts.armed = False
        self.sharp.append(self.meter.measure(optimizer, lr))
        self.sharp_steps.append(step)
        if self.acts:
            self.acts.armed = armed
        if self.meter.kind != self.run.instruments.get("sharpness"):
            self.run.write_instruments(sharpness=self.meter.kind)

    def grads(self) -> list[torch.Tensor]:
        return [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]

    def step(self, step: int, loss: torch.Tensor, accuracy: torch.Tensor, lr: float,
             unscale: torch.Tensor | None = None) -> torch.Tensor:
        """Call after backward and before the optimizer step: the gradients are this step's.
        `unscale`: 1 / a GradScaler's scale (on the device) when the gradients are still scaled by it.
        Returns the global gradient norm (on the device), for clipping."""
        self.stepped()
        grads = self.grads()
        logged = step % self.every == 0
        table = grad_stats(grads) if logged else None
        if logged and self.updates:
            self.updates.before()
        if logged and self.acts:
            self.health.append(self.acts.take())
        self.next_logged = (step + 1) % self.every == 0
        if self.acts:
            self.acts.armed = self.next_logged
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
        self.stepped()
        k, n, p = len(self.losses), len(self.stats), len(self.params)
        layers = len(self.acts.names) if self.acts else 0
        parts = {"loss": torch.stack(self.losses), "accuracy": torch.stack(self.accs),
                 "grad_norm": torch.stack(self.norms), "clipped": torch.stack(self.clipped).float()}
        if n:
            parts["grad"] = torch.stack(self.stats)
        if self.updates and self.ratios:
            parts["update"] = torch.stack(self.ratios)
        if self.acts:
            parts["act_dead"] = self.acts.dead().reshape(1, layers)
            if self.health:
                parts["act"] = torch.stack(self.health)
        if self.sharp:
            parts["sharp"] = torch.stack(self.sharp)
        flat = [v.float().reshape(-1) for v in parts.values()]
        packed = torch.cat(flat).cpu().numpy()
        got = dict(zip(parts, np.split(packed, np.cumsum([f.numel() for f in flat])[:-1])))
        chunk = {"step": np.asarray(self.steps, np.int64), "loss": got["loss"], "accuracy": got["accuracy"],
                 "lr": np.asarray(self.lrs, np.float64), "grad_norm": got["grad_norm"],
                 "clipped": got["clipped"] > 0, "grad_step": np.asarray(self.grad_steps, np.int64),
                 "grad": got.get("grad", np.zeros(0, np.float32)).reshape(n, p, len(STATS))}
        if self.updates:
            chunk["update"] = got.get("update", np.zeros(0, np.float32)).reshape(-1, p)
        if self.acts:
            chunk["act"] = got.get("act", np.zeros(0, np.float32)).reshape(-1, layers, len(ACTS))
            chunk["act_dead"] = got["act_dead"].reshape(1, layers)
        if self.meter:
            sharp = got.get("sharp", np.zeros(0, np.float32)).reshape(-1, 4)
            chunk.update(sharp_step=np.asarray(self.sharp_steps, np.int64), sharp=sharp[:, 0],
                         sharp_limit=sharp[:, 1], trace=sharp[:, 2], trace_se=sharp[:, 3])
        chunk.update({f"epoch_{key}": np.asarray(v, np.float64) for key, v in scalars.items()})
        self.run.write_epoch(epoch, **chunk)
        self._reset()
        return chunk
