"""Optimizers and learning-rate schedules from their specs."""
from __future__ import annotations

import math

import torch

from . import spec


def build(opt: spec.Optimizer, params) -> torch.optim.Optimizer:
    lr = opt.lr[0] if isinstance(opt.lr, tuple) else opt.lr
    if isinstance(opt, spec.SGD):
        return torch.optim.SGD(params, lr=lr, momentum=opt.momentum, nesterov=opt.nesterov,
                               weight_decay=opt.weight_decay)
    cls = {spec.Adam: torch.optim.Adam, spec.AdamW: torch.optim.AdamW}[type(opt)]
    return cls(params, lr=lr, betas=opt.betas, eps=opt.eps, weight_decay=opt.weight_decay)


def _ramp(warmup: int, t: int) -> float:
    """Linear warmup: (t + 1) / warmup for the first `warmup` steps (never a wasted step at lr 0), then 1."""
    return min(1.0, (t + 1) / warmup) if warmup else 1.0


def _decay(s, t: int, total: int) -> float:
    """Where step t is in the decay after the warmup: 0 at its first step, 1 at the run's last."""
    return min(max(t - s.warmup, 0) / max(total - 1 - s.warmup, 1), 1.0)


def _cyclic(s: spec.Cyclic, t: int) -> float:
    """torch's CyclicLR in mode "triangular", written as a fraction of the peak lr."""
    x = abs(2 * t / s.period - 2 * math.floor(1 + t / s.period) + 1)
    return s.low + (1 - s.low) * max(0.0, 1 - x)


FACTORS = {  # the factor each schedule multiplies the lr by at step t (0-based) of a run of `total` steps
    spec.Warmup: lambda s, t, total: _ramp(s.steps, t),
    spec.Cosine: lambda s, t, total: _ramp(s.warmup, t) * (
        s.final + (1 - s.final) * (1 + math.cos(math.pi * _decay(s, t, total))) / 2),
    spec.LinearDecay: lambda s, t, total: _ramp(s.warmup, t) * (1 - (1 - s.final) * _decay(s, t, total)),
    spec.StepDecay: lambda s, t, total: s.gamma ** (t // s.every),
    spec.Cyclic: lambda s, t, total: _cyclic(s, t),
    spec.WarmupCooldown: lambda s, t, total: _ramp(s.warmup, t) * min(1.0, (total - t) / max(s.cooldown, 1)),
}


def factor(opt: spec.Optimizer, sched: spec.Schedule | None, t: int, total: int) -> float:
    """lr(t) / lr: the pair's geometric decay from start (step 0) to end (the last step), times the
    schedule's factor. A pair and a schedule compose by this one product."""
    f = FACTORS[type(sched)](sched, t, total) if sched is not None else 1.0
    if not isinstance(opt.lr, tuple):
        return f
    start, end = opt.lr
    span = max(total - 1, 1)
    return f * (end / start) ** (min(t, span) / span)


def schedule(opt: spec.Optimizer, optimizer: torch.optim.Optimizer, total_steps: int,
             sched: spec.Schedule | None = None) -> torch.optim.lr_scheduler.LambdaLR:
    """The torch scheduler that sets lr(t) = lr x factor(t) before step t."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: factor(opt, sched, t, total_steps))
