"""What only the computing side can check when a script loads: that an optimizer takes its options, and that your own
factories import and take theirs. Torch is imported only to ask: accepted optimizers are remembered per torch
version in the user's cache, so loading a known declaration stays cheap (~2 s less)."""
from __future__ import annotations

import contextlib
import functools
import inspect
import json
from importlib import metadata

from ..declare import Compare, Experiment, Module, Optim, OptimizerRace, SpecError, Sweep
from ..declare.factory import resolve, where
from ..store.cache import user_cache
from ..store.io import write_json
from .runners import CHECKS

ACCEPTED = "racers.json"   # in the user's cache: the optimizers whose class took their options, per torch version


@functools.cache
def _accepted() -> set[str]:
    """The accepted optimizers remembered so far, read once a process (a cache that cannot be read is empty)."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        return set(json.loads((user_cache() / ACCEPTED).read_text()))
    return set()


def refusal(name: str, lr: float, options: dict, matrix: bool = False) -> str:
    """Why optimizer class `name` refuses `lr` and `options`, in its own words ("": it takes them), asked by
    building one over a vector (a 2x2 matrix for `matrix`: training's Muon takes matrices only)."""
    try:
        key = json.dumps([metadata.version("torch"), name, lr, options, *(["matrix"] if matrix else [])],
                         sort_keys=True)
    except metadata.PackageNotFoundError:   # a torch built from source: no version to remember it by
        key = None
    if key in _accepted():
        return ""
    import torch

    from .optim import by_name
    cls = torch.optim.Muon if matrix and hasattr(torch.optim, "Muon") else by_name(name)
    try:
        cls([torch.zeros((2, 2) if matrix else 2, requires_grad=True)], lr=lr, **options)
    except (TypeError, ValueError) as e:
        return str(e)
    if key:
        _accepted().add(key)
        with contextlib.suppress(OSError):   # a cache that cannot be written only costs time
            write_json(user_cache() / ACCEPTED, sorted(_accepted()))
    return ""


@CHECKS.register(OptimizerRace)
def check_racers(race: OptimizerRace) -> None:
    """Every racer's class takes its options, or one SpecError in the class's own words."""
    for r in race.racers.values():
        if why := refusal(r.optimizer, r.lr, r.options):
            raise SpecError(f"Racer.options = {r.options!r}: {r.optimizer} refuses them ({why})")


@CHECKS.register(Experiment)
def check_experiment(exp: Experiment) -> None:
    """An Optim's class takes its options; your own Module and Dataset factories import and take their options."""
    opt = exp.optimizer
    if isinstance(opt, Optim):
        lr = opt.lr[0] if isinstance(opt.lr, tuple) else opt.lr
        if why := refusal(opt.name, lr, opt.options, matrix=opt.name == "Muon"):
            raise SpecError(f"Optim.options = {opt.options!r}: {opt.name} refuses them ({why})")
    for obj, given in ((exp.model, ("shape", "classes")), (exp.data, ())):
        if hasattr(obj, "factory"):
            fn = resolve(obj)
            try:
                inspect.signature(fn).bind(*given, **obj.options)
            except (TypeError, ValueError) as e:
                raise SpecError(f"{type(obj).__name__}.options = {obj.options!r}{where(obj)}: {obj.factory} does not "
                                f"take them ({e}); allowed: {'shape, classes and ' if given else ''}its own keywords")


@CHECKS.register(Compare)
@CHECKS.register(Sweep)
def check_sweep(sweep) -> None:
    """Every run of the grid as an experiment (a grid over optimizers or factories' options)."""
    for exp in sweep.members():
        check_experiment(exp)
