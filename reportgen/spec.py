"""What an experiment script declares: typed dataclasses, checked when built, and `--set` overrides."""
from __future__ import annotations

import ast
import runpy
import traceback
import dataclasses
import hashlib
import json
import re
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Union


class SpecError(ValueError):
    """A bad value in an experiment: one line naming the field, the value and what is allowed."""


SPECS: dict[str, type] = {}  # every declarable class by name: for overrides and for reading configs back


def spec(cls):
    """Make `cls` a frozen keyword-only dataclass whose fields are type-checked, then value-checked."""
    cls = dataclass(frozen=True, kw_only=True)(cls)
    names = [f.name for f in fields(cls)]
    init = cls.__init__

    def __init__(self, *args, **kwargs):
        if args:
            raise SpecError(f"{cls.__name__}: give fields by name, e.g. {cls.__name__}({names[0]}=...)"
                            if names else f"{cls.__name__}() takes no values")
        for key in kwargs:
            if key not in names:
                raise SpecError(f"{cls.__name__}: unknown field '{key}' (allowed: {', '.join(names) or 'none'})")
        init(self, **kwargs)
        hints = typing.get_type_hints(cls, localns=SPECS)
        for f in fields(cls):
            value = getattr(self, f.name)
            if not fits(value, hints[f.name]):
                raise SpecError(f"{cls.__name__}.{f.name} = {value!r}: expected {describe(hints[f.name])}")
            if isinstance(value, list):  # lists are accepted for tuples; stored as tuples so specs hash
                object.__setattr__(self, f.name, tuple(value))
        self.check()

    cls.__init__ = __init__
    cls.check = getattr(cls, "check", lambda self: None)
    SPECS[cls.__name__] = cls
    return cls


def fits(value, hint) -> bool:
    """Whether `value` is of the type `hint` as declarations write it (an int is a float, a list a tuple)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (Union, types.UnionType):
        return any(fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(fits(v, a) for v, a in zip(value, args))
    if origin is dict:
        return isinstance(value, dict) and all(fits(k, args[0]) and fits(v, args[1]) for k, v in value.items())
    return isinstance(value, hint)


def describe(hint) -> str:
    """A type as the one-line errors name it."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is tuple:
        inner = f"{describe(args[0])}, ..." if args[-1] is Ellipsis else ", ".join(describe(a) for a in args)
        return f"a tuple ({inner})"
    if hint is type(None):
        return "None"
    if origin is dict:
        return f"a dict of {describe(args[0])} to {describe(args[1])}"
    if isinstance(hint, type) and hint.__name__ in SPECS:
        return f"{hint.__name__}(...)"
    return getattr(hint, "__name__", str(hint))


def require(ok: bool, obj, name: str, allowed: str) -> None:
    """Raise the one-line error for field `name` of `obj` unless `ok`."""
    if not ok:
        raise SpecError(f"{type(obj).__name__}.{name} = {getattr(obj, name)!r}: allowed: {allowed}")


# ---- activations -------------------------------------------------------------------------------
@spec
class LeakyReLU:
    negative_slope: float = 0.01


@spec
class ReLU:
    pass


@spec
class Tanh:
    pass


@spec
class GELU:
    pass


@spec
class Identity:
    """No nonlinearity: a deep linear network."""


Activation = Union[LeakyReLU, ReLU, Tanh, GELU, Identity]


# ---- models --------------------------------------------------------------------------------------
@spec
class MLP:
    """`depth` Linear layers of `width` units; `multiplier` scales, at initialisation, the weights of
    every Linear that follows an activation (the talk's fix 2: they enter the gradient as a factor)."""
    depth: int = 16
    width: int = 256
    activation: Activation = LeakyReLU()
    multiplier: float = 1.0
    bias: bool = True

    def check(self):
        require(self.depth >= 1, self, "depth", "an integer >= 1")
        require(self.width >= 1, self, "width", "an integer >= 1")
        require(self.multiplier > 0, self, "multiplier", "a number > 0")


@spec
class CNN:
    """Conv-activation-pool blocks of `channels`, then a hidden Linear of `width` and the classifier."""
    channels: tuple[int, ...] = (16, 32)
    width: int = 64
    activation: Activation = ReLU()
    dropout: float = 0.0
    batchnorm: bool = False

    def check(self):
        require(len(self.channels) >= 1 and min(self.channels) >= 1, self, "channels", "one or more integers >= 1")
        require(self.width >= 1, self, "width", "an integer >= 1")
        require(0 <= self.dropout < 1, self, "dropout", "a number in [0, 1)")


Model = Union[MLP, CNN]


# ---- data ----------------------------------------------------------------------------------------
@spec
class Synthetic:
    """A deterministic image-classification set: class prototypes, shifts, distractors, noise."""
    n_train: int = 2048
    n_test: int = 512
    classes: int = 10
    shape: tuple[int, int, int] = (3, 32, 32)
    noise: float = 1.0
    seed: int = 0

    def check(self):
        require(self.n_train >= 1, self, "n_train", "an integer >= 1")
        require(self.n_test >= 1, self, "n_test", "an integer >= 1")
        require(self.classes >= 2, self, "classes", "an integer >= 2")
        require(min(self.shape) >= 1, self, "shape", "three positive integers (C, H, W)")
        require(self.noise >= 0, self, "noise", "a number >= 0")


def _check_root(obj):
    require(bool(obj.root), obj, "root", "a folder holding the dataset's files")
    require(obj.limit is None or obj.limit >= 1, obj, "limit", "None or an integer >= 1")


@spec
class CIFAR10:
    root: str = "~/data"
    limit: int | None = None
    check = _check_root


@spec
class CIFAR100:
    root: str = "~/data"
    limit: int | None = None
    check = _check_root


@spec
class MNIST:
    root: str = "~/data"
    limit: int | None = None
    check = _check_root


@spec
class FashionMNIST:
    root: str = "~/data"
    limit: int | None = None
    check = _check_root


Data = Union[Synthetic, CIFAR10, CIFAR100, MNIST, FashionMNIST]


# ---- optimizers ----------------------------------------------------------------------------------
LR = Union[float, tuple[float, float]]  # a pair = (start, end) of a geometric decay over the run


def _check_lr(obj):
    lrs = obj.lr if isinstance(obj.lr, tuple) else (obj.lr,)
    require(all(lr > 0 for lr in lrs), obj, "lr", "a number > 0, or a pair (start, end) of numbers > 0")


@spec
class Adam:
    lr: LR = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    check = _check_lr


@spec
class AdamW:
    lr: LR = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.01
    check = _check_lr


@spec
class SGD:
    lr: LR = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    def check(self):
        _check_lr(self)
        require(0 <= self.momentum < 1, self, "momentum", "a number in [0, 1)")
        require(not self.nesterov or self.momentum > 0, self, "nesterov", "True only with momentum > 0")


Optimizer = Union[Adam, AdamW, SGD]


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
        require(self.probe >= 1, self, "probe", "a number of steps >= 1")


# ---- recording -----------------------------------------------------------------------------------
@spec
class Record:
    """How often to measure. `every=0` chooses the gradient-log interval from `disk_mb`."""
    every: int = 0
    disk_mb: float = 20.0
    snapshots: int = 16          # weight snapshots per epoch in the first epoch ("preparatory phase")
    snapshot_every: int = 1      # then one every this many epochs
    checkpoint_every: int = 1    # epochs

    def check(self):
        require(self.every >= 0, self, "every", "0 (automatic) or a number of steps >= 1")
        require(self.disk_mb > 0, self, "disk_mb", "a number of megabytes > 0")
        require(self.snapshots >= 0, self, "snapshots", "an integer >= 0")
        require(self.snapshot_every >= 1, self, "snapshot_every", "an integer >= 1")
        require(self.checkpoint_every >= 1, self, "checkpoint_every", "an integer >= 1")


@spec
class Landscape:
    """Loss landscapes and trajectory projections, computed once training ends (reportgen/projection.py)
    from the weight snapshots and stored in the run. Lines L(θ + a·d1) and planes L(θ + a·d1 + b·d2) for
    a, b in [-span, span], d1 and d2 seeded Gaussian directions normalised per filter / per layer / not
    ("none"; Li et al. 2018), around the final weights, the initial and final ("ends"), or every epoch's;
    the trajectory's PCA plane, spanning the path; `samples` of each split; 0 points: no line / plane."""
    directions: str = "filter"
    include_1d: bool = False     # biases and normalisation parameters move too (else a zero direction)
    line: int = 41               # points along a line (train and held-out samples)
    plane: int = 15              # points along each side of a plane (train samples)
    span: float = 1.0
    pca_plane: bool = True       # the loss over the trajectory's PCA plane, for the path to move over
    around: str = "epochs"
    samples: int = 256
    recompute_bn: bool = False   # batch norm with each point's own batch statistics, not the stored ones
    seed: int = 0

    def check(self):
        require(self.directions in ("filter", "layer", "none"), self, "directions", "filter, layer or none")
        require(self.line == 0 or self.line >= 3, self, "line", "0 (none) or an integer >= 3")
        require(self.plane == 0 or self.plane >= 3, self, "plane", "0 (none) or an integer >= 3")
        require(self.span > 0, self, "span", "a number > 0")
        require(self.around in ("final", "ends", "epochs"), self, "around", "final, ends or epochs")
        require(self.samples >= 1, self, "samples", "an integer >= 1")


# ---- the experiment ------------------------------------------------------------------------------
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
DEVICES = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@spec
class Experiment:
    """A training run: the model, its data and optimizer, how long, what to record and draw."""
    name: str
    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    model: Model = MLP()
    data: Data = Synthetic()
    optimizer: Optimizer = Adam()
    schedule: Schedule | None = None
    clip: Clip | None = None
    epochs: int = 10
    batch_size: int = 128
    seed: int = 0
    device: str = "auto"
    record: Record = Record()
    landscape: Landscape | None = None
    # the tuning playbook's diagnostics come by default: gradient norm and learning rate beside the loss
    figures: tuple[str, ...] = ("gradient_diagram", "grad_norm", "lr_schedule")

    def check(self):
        require(bool(NAME.match(self.name)), self, "name", "lower-case letters, digits, '.', '_', '-'")
        require(self.epochs >= 1, self, "epochs", "an integer >= 1")
        require(self.batch_size >= 1, self, "batch_size", "an integer >= 1")
        require(bool(DEVICES.match(self.device)), self, "device", "auto, cpu, mps, cuda or cuda:N")


@spec
class Recorded:
    """A run that a user's own training loop recorded with `reportgen.Recorder`: no script; `config` is the
    dict the loop gave, kept as plain JSON data (`from_dict` leaves it alone: a "type" key in it is data)."""
    name: str
    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    figures: tuple[str, ...] = ("gradient_diagram",)
    PLAIN = ("config",)

    def check(self):
        require(bool(NAME.match(self.name)), self, "name", "lower-case letters, digits, '.', '_', '-'")

# ---- overrides, configs and ids ------------------------------------------------------------------
def override(obj, assignment: str):
    """Apply one `a.b=value` to a spec; the value is a Python literal or a spec call like Tanh()."""
    path, sep, text = assignment.partition("=")
    if not sep or not path.strip():
        raise SpecError(f"--set {assignment!r}: expected FIELD=VALUE, e.g. model.depth=80")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        try:  # spec constructors such as LeakyReLU(negative_slope=2); nothing else is in scope
            value = eval(text, {"__builtins__": {}}, dict(SPECS))  # noqa: S307 - the user's own command line
        except SpecError:
            raise
        except Exception:
            value = text  # a bare word is a string
    return _set(obj, path.strip().split("."), value, path.strip())


def _set(obj, keys: list[str], value, path: str):
    if not dataclasses.is_dataclass(obj) or keys[0] not in {f.name for f in fields(obj)}:
        allowed = ", ".join(f.name for f in fields(obj)) if dataclasses.is_dataclass(obj) else "none"
        raise SpecError(f"--set {path}: {type(obj).__name__} has no field '{keys[0]}' (allowed: {allowed})")
    if len(keys) > 1:
        value = _set(getattr(obj, keys[0]), keys[1:], value, path)
    return replace(obj, **{keys[0]: value})


def to_dict(obj) -> Any:
    """A spec as plain JSON-able data, each object tagged with its class name."""
    if dataclasses.is_dataclass(obj):
        return {"type": type(obj).__name__, **{f.name: to_dict(getattr(obj, f.name)) for f in fields(obj)}}
    if isinstance(obj, (tuple, list)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def from_dict(data: Any) -> Any:
    """The inverse of `to_dict`."""
    if isinstance(data, dict) and "type" in data:
        cls = SPECS.get(data["type"])
        if cls is None:
            raise SpecError(f"unknown type {data['type']!r} in a stored config")
        plain = getattr(cls, "PLAIN", ())
        return cls(**{k: v if k in plain else from_dict(v) for k, v in data.items() if k != "type"})
    if isinstance(data, list):
        return tuple(from_dict(v) for v in data)
    if isinstance(data, dict):
        return {k: from_dict(v) for k, v in data.items()}
    return data


# Fields that change what a run computes. Words and figure choices do not: editing a title must not retrain.
PRESENTATION = ("title", "description", "tags", "figures")


def run_id(obj) -> str:
    """A short hash of everything that decides what the run computes."""
    data = {k: v for k, v in to_dict(obj).items() if k not in PRESENTATION}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]


def load(path: str | Path, overrides: tuple[str, ...] = ()) -> list:
    """The experiments an experiment script declares (`EXPERIMENT` or `EXPERIMENTS`), overrides applied.

    Any error inside the script becomes one SpecError naming the file and line."""
    path = Path(path)
    try:
        scope = runpy.run_path(str(path), run_name="__experiment__")
    except SyntaxError as e:
        raise SpecError(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
    except Exception as e:  # noqa: BLE001 - the script is user code; every failure is reported the same way
        lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if Path(f.filename) == path]
        where = f"{path}:{lines[-1]}" if lines else str(path)
        raise SpecError(f"{where}: {e if isinstance(e, SpecError) else f'{type(e).__name__}: {e}'}") from None
    found = scope.get("EXPERIMENTS", [scope["EXPERIMENT"]] if "EXPERIMENT" in scope else None)
    if not found:
        raise SpecError(f"{path}: declares no EXPERIMENT (or EXPERIMENTS list)")
    declared = tuple(SPECS.values())
    result = []
    for exp in found:
        if not isinstance(exp, declared) or not hasattr(exp, "name"):
            raise SpecError(f"{path}: EXPERIMENT is a {type(exp).__name__}, expected Experiment(...)")
        for assignment in overrides:
            try:
                exp = override(exp, assignment)
            except SpecError as e:
                raise SpecError(f"{path}: {e}") from None
        result.append(exp)
    return result
