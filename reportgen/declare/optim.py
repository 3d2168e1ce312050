"""How a run steps: optimizers, learning-rate schedules and gradient clipping."""
from __future__ import annotations

from dataclasses import field, fields
from typing import Union

from .spec import require, spec, within


# ---- optimizers ----------------------------------------------------------------------------------
LR = Union[float, tuple[float, float]]  # a pair = (start, end) of a geometric decay over the run


def _check_lr(obj):
    lrs = obj.lr if isinstance(obj.lr, tuple) else (obj.lr,)
    require(all(lr > 0 for lr in lrs), obj, "lr", "a number > 0, or a pair (start, end) of numbers > 0")


def label(name: str, options: dict, lr) -> str:
    """How a sweep names an optimizer, short enough for a figure's axis: RMSprop(alpha=0.9) 0.001."""
    given = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in options.items())
    rate = "→".join(f"{v:g}" for v in lr) if isinstance(lr, tuple) else f"{lr:g}"
    return f"{name}{f'({given})' if given else ''} {rate}"


class Named:
    """Adam, AdamW, SGD: labelled by their class, the fields not at their defaults and the lr (SGD(momentum=0.9) 0.03)."""

    def label(self) -> str:
        changed = {f.name: getattr(self, f.name) for f in fields(self)
                   if f.name != "lr" and getattr(self, f.name) != f.default}
        return label(type(self).__name__, changed, self.lr)


@spec
class Adam(Named):
    lr: LR = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    check = _check_lr


@spec
class AdamW(Named):
    lr: LR = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.01
    check = _check_lr


@spec
class SGD(Named):
    lr: LR = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    def check(self):
        _check_lr(self)
        require(0 <= self.momentum < 1, self, "momentum", "a number in [0, 1)")
        require(not self.nesterov or self.momentum > 0, self, "nesterov", "True only with momentum > 0")


@spec
class Optim:
    """Any optimizer by its class name: torch.optim's own (SGD, RMSprop, Adam, NAdam, Adagrad, ...) or Lion and Muon
    (compute/optim.py); `options` are its other keyword arguments, checked against its signature when the script
    loads. Muon: torch.optim.Muon on the hidden weight matrices (its lr matched to AdamW's update size), AdamW at
    the same lr on every other parameter (embeddings, first and last layer, biases, norms, conv kernels)."""
    name: str
    lr: LR = 1e-3
    options: dict[str, float | bool | str | tuple[float, ...] | None] = field(default_factory=dict)

    def check(self):
        _check_lr(self)
        require(self.name.isidentifier(), self, "name", "the name of an optimizer class, e.g. 'RMSprop'")

    def label(self) -> str:
        return label(self.name, self.options, self.lr)


Optimizer = Union[Adam, AdamW, SGD, Optim]


# ---- learning-rate schedules ----------------------------------------------------------------------
# One rule: a schedule multiplies the optimizer's lr (a number, or the pair's geometric decay) by a
# factor in [0, 1] per step. Lengths are in optimizer steps; the formulas are in reportgen/optim.py.
def _check_steps(obj, *names):
    for name in names:
        require(getattr(obj, name) >= 0, obj, name, "a number of steps >= 0")


def _check_decay(obj):
    _check_steps(obj, "warmup")
    require(0 <= obj.final <= 1, obj, "final", "a fraction of the lr in [0, 1]")


@spec
class Warmup:
    """Linear warmup from base/steps to the base lr over `steps`, then constant (the tuning playbook's)."""
    steps: int = 100

    def check(self):
        require(self.steps >= 1, self, "steps", "a number of steps >= 1")


@spec
class Cosine:
    """Linear warmup over `warmup` steps, then half a cosine down to `final` x the lr at the last step."""
    warmup: int = 0
    final: float = 0.0
    check = _check_decay


@spec
class LinearDecay:
    """Linear warmup over `warmup` steps, then a straight line down to `final` x the lr at the last step."""
    warmup: int = 0
    final: float = 0.0
    check = _check_decay


@spec
class StepDecay:
    """The lr times `gamma` every `every` steps."""
    every: int = 1000
    gamma: float = 0.1

    def check(self):
        require(self.every >= 1, self, "every", "a number of steps >= 1")
        require(0 < self.gamma <= 1, self, "gamma", "a number in (0, 1]")


@spec
class Cyclic:
    """Triangular cyclic lr (Smith 2017, CLR): from `low` x the lr up to the lr and back every `period` steps."""
    period: int = 200
    low: float = 0.1

    def check(self):
        require(self.period >= 2, self, "period", "a number of steps >= 2")
        require(0 <= self.low < 1, self, "low", "a fraction of the lr in [0, 1)")


@spec
class WarmupCooldown:
    """Linear warmup over `warmup` steps, constant, then linear cooldown to zero over the last `cooldown`."""
    warmup: int = 100
    cooldown: int = 100

    def check(self):
        _check_steps(self, "warmup", "cooldown")


Schedule = Union[Warmup, Cosine, LinearDecay, StepDecay, Cyclic, WarmupCooldown]


@spec
class Clip:
    """Clip the global gradient norm at `threshold`, or "auto": the 90th percentile of the norms seen in a
    `probe`-step run without clipping from the same start (the tuning playbook's advice)."""
    threshold: float | str = "auto"
    probe: int = 50

    def check(self):
        require(self.threshold == "auto" if isinstance(self.threshold, str) else self.threshold > 0, self,
                "threshold", '"auto" or a gradient norm > 0')
        within(self, "probe", 1, 10 ** 6, "a number of steps")
