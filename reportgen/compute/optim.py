"""Optimizers and learning-rate schedules from their specs; any torch.optim class by name, Lion and Muon."""
from __future__ import annotations

import math

import torch

from .. import declare as spec
from ..registry import Registry

OPTIMIZERS = Registry("optimizer")  # fn(declaration, params, lr) -> torch.optim.Optimizer
SCHEDULES = Registry("schedule")    # fn(declaration, t, total) -> the factor on the lr at step t (0-based)


def build(opt: spec.Optimizer, params) -> torch.optim.Optimizer:
    """The torch optimizer an optimizer declaration describes, at its first lr."""
    return OPTIMIZERS[type(opt)](opt, params, opt.lr[0] if isinstance(opt.lr, tuple) else opt.lr)


@OPTIMIZERS.register(spec.SGD)
def _sgd(opt: spec.SGD, params, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=opt.momentum, nesterov=opt.nesterov, weight_decay=opt.weight_decay)


for _kind, _cls in ((spec.Adam, torch.optim.Adam), (spec.AdamW, torch.optim.AdamW)):
    OPTIMIZERS.register(_kind, lambda opt, params, lr, cls=_cls: cls(params, lr=lr, betas=opt.betas, eps=opt.eps,
                                                                     weight_decay=opt.weight_decay))


# torch.optim's classes that a training step can drive (LBFGS needs a closure, SparseAdam sparse gradients)
UNSTEPPABLE = ("Optimizer", "LBFGS", "SparseAdam")


def names() -> list[str]:
    """Every optimizer an Optim can name: torch.optim's steppable classes, Lion and Muon."""
    found = [n for n, c in vars(torch.optim).items() if isinstance(c, type) and issubclass(c, torch.optim.Optimizer)]
    return sorted({n for n in found if n not in UNSTEPPABLE} | {"Lion", "Muon"})


def by_name(name: str) -> type[torch.optim.Optimizer]:
    """The class `name`: torch.optim's own, or Lion and Muon of this module (the races' Muon takes any tensor)."""
    if name not in names():
        raise spec.SpecError(f"Optim.name = {name!r}: allowed: {', '.join(names())}")
    return globals()[name] if name in ("Lion", "Muon") else getattr(torch.optim, name)


@OPTIMIZERS.register(spec.Optim)
def _named(opt: spec.Optim, params, lr: float) -> torch.optim.Optimizer:
    if opt.name != "Muon":
        return by_name(opt.name)(params, lr=lr, **opt.options)
    params = list(params)
    matrices = [p for p in params if p.ndim == 2]
    hidden = {id(p) for p in matrices[1:-1]}   # the first (input, embedding) and the last (classifier) go to AdamW
    if not hidden:
        raise spec.SpecError("Optim.name = 'Muon': the model has no hidden weight matrix for Muon to take; "
                             "allowed: a model with three or more weight matrices")
    muon = torch.optim.Muon if hasattr(torch.optim, "Muon") else Muon
    kwargs = {"adjust_lr_fn": "match_rms_adamw"} if muon is not Muon else {}
    return Paired(muon([p for p in params if id(p) in hidden], lr=lr, **kwargs, **opt.options),
                  torch.optim.AdamW([p for p in params if id(p) not in hidden], lr=lr))


class Paired(torch.optim.Optimizer):
    """Two optimizers stepped as one over their parameters (Muon's hidden matrices, AdamW's rest): their param
    groups are this one's, so a schedule sets both; the state dict holds each one's."""

    def __init__(self, *parts: torch.optim.Optimizer):
        super().__init__([g for p in parts for g in p.param_groups], {})
        self.parts = parts

    @property
    def param_groups(self) -> list[dict]:
        """The parts' own groups, read live: loading a state dict gives a part new ones."""
        return [g for p in self.parts for g in p.param_groups] if hasattr(self, "parts") else self._groups

    @param_groups.setter
    def param_groups(self, groups: list[dict]) -> None:  # torch's __init__ sets them before the parts are known
        self._groups = groups

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            loss = closure() if closure else None
        for part in self.parts:
            part.step()
        return loss

    def state_dict(self):
        return {"parts": [p.state_dict() for p in self.parts]}

    def load_state_dict(self, state):
        for part, saved in zip(self.parts, state["parts"], strict=True):
            part.load_state_dict(saved)


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


SCHEDULES.register(spec.Warmup, lambda s, t, total: _ramp(s.steps, t))
SCHEDULES.register(spec.Cosine, lambda s, t, total: _ramp(s.warmup, t) * (
    s.final + (1 - s.final) * (1 + math.cos(math.pi * _decay(s, t, total))) / 2))
SCHEDULES.register(spec.LinearDecay, lambda s, t, total: _ramp(s.warmup, t) * (1 - (1 - s.final) * _decay(s, t, total)))
SCHEDULES.register(spec.StepDecay, lambda s, t, total: s.gamma ** (t // s.every))
SCHEDULES.register(spec.Cyclic, lambda s, t, total: _cyclic(s, t))
SCHEDULES.register(spec.WarmupCooldown,
                   lambda s, t, total: _ramp(s.warmup, t) * min(1.0, (total - t) / max(s.cooldown, 1)))


def factor(opt: spec.Optimizer, sched: spec.Schedule | None, t: int, total: int) -> float:
    """lr(t) / lr: the pair's geometric decay from start (step 0) to end (the last step), times the
    schedule's factor. A pair and a schedule compose by this one product."""
    f = SCHEDULES[type(sched)](sched, t, total) if sched is not None else 1.0
    if not isinstance(opt.lr, tuple):
        return f
    start, end = opt.lr
    span = max(total - 1, 1)
    return f * (end / start) ** (min(t, span) / span)


def schedule(opt: spec.Optimizer, optimizer: torch.optim.Optimizer, total_steps: int,
             sched: spec.Schedule | None = None) -> torch.optim.lr_scheduler.LambdaLR:
    """The torch scheduler that sets lr(t) = lr x factor(t) before step t."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: factor(opt, sched, t, total_steps))


class Lion(torch.optim.Optimizer):
    """Lion (Chen et al. 2023, Algorithm 2): step along sign(β1·m + (1-β1)·g), then m ← β2·m + (1-β2)·g."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            loss = closure() if closure else None
        for group in self.param_groups:
            lr, (beta1, beta2) = group["lr"], group["betas"]
            for p in (p for p in group["params"] if p.grad is not None):
                m = self.state[p].setdefault("exp_avg", torch.zeros_like(p))
                update = (beta1 * m + (1 - beta1) * p.grad).sign()
                p.mul_(1 - lr * group["weight_decay"]).add_(update, alpha=-lr)
                m.mul_(beta2).add_(p.grad, alpha=1 - beta2)
        return loss


def newton_schulz(g: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """Jordan's quintic Newton–Schulz on a matrix: U S' V^T with S' ≈ 1 (in about [0.7, 1.2]), no SVD needed."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g / (g.norm() + eps)  # Frobenius ≥ spectral norm, so every singular value starts in (0, 1]
    tall = x.shape[0] > x.shape[1]
    x = x.T if tall else x  # X Xᵀ on the short side is the cheaper Gram matrix
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


class Muon(torch.optim.Optimizer):
    """Muon as in seed 001: B ← μB + g, G ← g + μB, θ ← θ - η(NewtonSchulz5(G) + λθ), in the param's dtype.

    A parameter with fewer than 2 dims is viewed as a 1×n matrix. Its one singular value is pushed to ~1,
    so for the 2-vector of a race the step is the Nesterov momentum normalised to length 0.70·lr (where
    NS5's tuned, deliberately non-converging coefficients land from 1): a fixed-length step along the
    momentum, which is what "orthogonal" means for a 1×n matrix. Viewing (x, y) as diag(x, y) instead
    would orthogonalise to sign(momentum), i.e. Lion without its interpolation: a structure the race lacks.
    torch.optim.Muon refuses 1-D parameters and runs the iteration in bfloat16, hence this class.
    """

    def __init__(self, params, lr=0.02, momentum=0.95, weight_decay=0.0, ns_steps=5):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, ns_steps=ns_steps))

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            loss = closure() if closure else None
        for group in self.param_groups:
            lr, mu = group["lr"], group["momentum"]
            for p in (p for p in group["params"] if p.grad is not None):
                buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
                buf.mul_(mu).add_(p.grad)
                nesterov = p.grad + mu * buf
                matrix = nesterov.flatten(1) if p.ndim >= 2 else nesterov.reshape(1, -1)
                p.mul_(1 - lr * group["weight_decay"])
                p.add_(newton_schulz(matrix, group["ns_steps"]).view_as(p), alpha=-lr)
        return loss
