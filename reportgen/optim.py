"""Optimizers and learning-rate schedules from their specs."""
from __future__ import annotations

import torch

from . import spec


def build(opt: spec.Optimizer, params) -> torch.optim.Optimizer:
    lr = opt.lr[0] if isinstance(opt.lr, tuple) else opt.lr
    if isinstance(opt, spec.SGD):
        return torch.optim.SGD(params, lr=lr, momentum=opt.momentum, nesterov=opt.nesterov,
                               weight_decay=opt.weight_decay)
    cls = {spec.Adam: torch.optim.Adam, spec.AdamW: torch.optim.AdamW}[type(opt)]
    return cls(params, lr=lr, betas=opt.betas, eps=opt.eps, weight_decay=opt.weight_decay)


def schedule(opt: spec.Optimizer, optimizer: torch.optim.Optimizer, total_steps: int):
    """lr=(start, end) decays geometrically from start (step 0) to end (the last step); a number stays."""
    if not isinstance(opt.lr, tuple):
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    start, end = opt.lr
    span = max(total_steps - 1, 1)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: (end / start) ** (min(step, span) / span))
