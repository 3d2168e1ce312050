"""Groups of runs drawn on shared axes: a Sweep (a grid over any fields of an experiment) and a Compare (named
experiments side by side); each member an ordinary run inside the group's (compute/sweep.py)."""
from __future__ import annotations

import dataclasses
import itertools
import math
import re
from typing import Any

from .claims import BestFalls, Runs, SweepClaim, check_recorded, short
from .config import override
from .demos import Demo
from .experiment import Experiment
from .optim import Named
from .spec import SpecError, require, spec

# what a sweep can compare, read from each run's epochs: the name and how it reads on an axis
MAX_RUNS = 10_000
METRICS = {"train_loss": "training loss", "test_loss": "test loss", "test_accuracy": "test accuracy"}

# what a group draws unless it lists its figures: the grid, then every run on the same axes and frame clock
COMPARED = ("compare_loss", "compare_gradients", "compare_trajectory")


def label(value) -> str:
    """A grid value as people write it: 3e-05, (3e-05, 3e-06), Tanh(), LeakyReLU(negative_slope=2)."""
    if isinstance(value, (bool, str)):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(label, value)) + ")"
    return value.label() if hasattr(value, "label") else repr(value)


def folder_label(value) -> str:
    """A grid value as its run's folder spells it: as `label`, but Adam, AdamW and SGD by their whole repr, as
    before they had a short label, so that runs made then keep their folders."""
    return repr(value) if isinstance(value, Named) else label(value)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Group(Demo):
    """What Sweep and Compare share: members trained side by side, then compared on shared axes (the COMPARED
    figures: loss curves, gradient diagrams, and trajectories on one PCA plane fitted to every run's snapshots,
    over that plane's loss surface: `plane` points a side, on `samples` training examples; 0: none).
    `metric` is what the grid and the claims compare; `claims` hold for the runs they name."""
    metric: str = "train_loss"
    claims: tuple[SweepClaim, ...] = ()  # what the group must show: Runs(where=..., claims=...), BestFalls(...)
    plane: int = 31
    samples: int = 512

    def check(self):
        super().check()
        require(self.metric in METRICS, self, "metric", ", ".join(METRICS))
        require(self.plane == 0 or 5 <= self.plane <= 201, self, "plane", "0 (no loss surface) or 5 to 201 points")
        require(self.samples >= 1, self, "samples", "a number of training examples >= 1")
        members = self.members()
        require(len({m.name for m in members}) == len(members), self, self.VARIED,
                "values that differ in their written form")
        for claim in self.claims:
            self._check_claim(claim, {m.record for m in members})

    def _check_claim(self, claim, records) -> None:
        """A claim names fields of the grid (and, in Runs, values it holds, and what the runs' `records` record)."""
        grid = ", ".join(self.grid)
        if isinstance(claim, Runs):
            for record in records:
                check_recorded(claim.claims, record, self)
            for path, value in claim.where.items():
                require(path in self.grid, claim, "where", f"fields of the grid ({grid})")
                require(value in self.grid[path], claim, "where",
                        f"values of the grid: {path} in {', '.join(map(label, self.grid[path]))}")
        if isinstance(claim, BestFalls):
            for name in ("field", "along"):
                values = self.grid.get(getattr(claim, name), ())
                require(len(values) >= 2 and all(isinstance(v, (int, float)) for v in values), claim, name,
                        f"a field of the grid with two or more numbers ({grid})")

    def combinations(self) -> list[tuple]:
        """Every combination of values, the first field varying slowest."""
        return list(itertools.product(*self.grid.values()))


@spec
class Sweep(Group):
    """Every combination of `grid` ({field path: values}) applied to `base` by `--set`-style overrides. Each
    is an ordinary experiment named <name>.<field><value>_..., with a run directory of its own inside the
    sweep's (so `--clean` redoes them all), trained side by side on the spare cores; a run that diverges is
    a result, not a failure. `base`'s own name and title are replaced."""
    figures: tuple[str, ...] = ("sweep_grid", *COMPARED)
    base: Experiment
    grid: dict[str, tuple[Any, ...]]
    VARIED = "grid"
    ADDED = {"plane": 31, "samples": 512}  # sweeps run before the comparison keep their ids

    def check(self):
        require(bool(self.grid) and all(self.grid.values()), self, "grid",
                'a dict of field paths to one or more values, e.g. {"optimizer.lr": (3e-5, 3e-6)}')
        require(math.prod(map(len, self.grid.values())) <= MAX_RUNS, self, "grid",
                f"at most {MAX_RUNS} combinations of values (each one is a run)")
        require(not self.base.claims, self, "base", "an experiment without claims: a sweep's claims are its own, "
                "e.g. Runs(where={...}, claims=(Learns(),))")
        super().check()

    def members(self) -> list[Experiment]:
        """The experiments of the grid, in the order of `combinations()`."""
        result = []
        for values in self.combinations():
            exp = self.base
            for path, value in zip(self.grid, values):
                try:
                    exp = override(exp, f"{path}={value!r}")
                except SpecError as e:
                    why = str(e).removeprefix(f"--set {path}: ")
                    raise SpecError(f"Sweep.grid[{path!r}] = {value!r}: {why}") from None
            words = [f"{short(p)} {label(v)}" for p, v in zip(self.grid, values)]
            slug = "_".join(re.sub(r"[^a-z0-9.]+", "-", f"{short(p)}{folder_label(v)}".lower()).strip("-.")
                            for p, v in zip(self.grid, values))
            result.append(override(override(exp, f"name={self.name + '.' + slug!r}"),
                                        f"title={self.name + ': ' + ', '.join(words)!r}"))  # short: frames show it
        return result


@spec
class Compare(Group):
    """Two or more experiments side by side, e.g. `experiments=(experiment("mlp80-leaky"),
    experiment("mlp80-leaky-x2.37"))`: each is trained again as a run of its own inside the comparison's, named
    <name>.<its name>, so the comparison is complete in itself; their own claims stay on their own pages.
    Claims name them as a one-field grid: Runs(where={"experiment": "mlp80-leaky"}, claims=(...))."""
    figures: tuple[str, ...] = COMPARED
    experiments: tuple[Experiment, ...]
    VARIED = "experiments"

    def check(self):
        require(len(self.experiments) >= 2, self, "experiments", "two or more Experiment(...)")
        super().check()

    @property
    def grid(self) -> dict[str, tuple[str, ...]]:
        return {"experiment": tuple(e.name for e in self.experiments)}

    @property
    def base(self) -> Experiment:
        return self.experiments[0]

    def members(self) -> list[Experiment]:
        return [dataclasses.replace(e, name=f"{self.name}.{e.name}", claims=()) for e in self.experiments]
