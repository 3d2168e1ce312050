"""Sweeps: a grid over any fields of an experiment; each combination an ordinary run (compute/sweep.py)."""
from __future__ import annotations

import itertools
import math
import re
from typing import Any

from .claims import BestFalls, Runs, SweepClaim, check_recorded, short
from .config import override
from .demos import Demo
from .experiment import Experiment
from .spec import SpecError, require, spec

# what a sweep can compare, read from each run's epochs: the name and how it reads on an axis
MAX_RUNS = 10_000
METRICS = {"train_loss": "training loss", "test_loss": "test loss", "test_accuracy": "test accuracy"}


def label(value) -> str:
    """A grid value as people write it: 3e-05, (3e-05, 3e-06), Tanh(), LeakyReLU(negative_slope=2)."""
    if isinstance(value, (bool, str)):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(label, value)) + ")"
    return value.label() if hasattr(value, "label") else repr(value)


@spec
class Sweep(Demo):
    """Every combination of `grid` ({field path: values}) applied to `base` by `--set`-style overrides. Each
    is an ordinary experiment named <name>.<field><value>_..., with a run directory of its own inside the
    sweep's (so `--clean` redoes them all), trained side by side on the spare cores; a run that diverges is
    a result, not a failure. `base`'s own name and title are replaced. `metric` is what the figure compares."""
    figures: tuple[str, ...] = ("sweep_grid",)
    base: Experiment
    grid: dict[str, tuple[Any, ...]]
    metric: str = "train_loss"
    claims: tuple[SweepClaim, ...] = ()  # what the grid must show: Runs(where=..., claims=...), BestFalls(...)

    def check(self):
        super().check()
        require(bool(self.grid) and all(self.grid.values()), self, "grid",
                'a dict of field paths to one or more values, e.g. {"optimizer.lr": (3e-5, 3e-6)}')
        require(self.metric in METRICS, self, "metric", ", ".join(METRICS))
        require(math.prod(map(len, self.grid.values())) <= MAX_RUNS, self, "grid",
                f"at most {MAX_RUNS} combinations of values (each one is a run)")
        names = [m.name for m in self.members()]
        require(len(set(names)) == len(names), self, "grid", "values that differ in their written form")
        require(not self.base.claims, self, "base", "an experiment without claims: a sweep's claims are its own, "
                "e.g. Runs(where={...}, claims=(Learns(),))")
        for claim in self.claims:
            self._check_claim(claim)

    def _check_claim(self, claim) -> None:
        """A claim names fields of the grid (and, in Runs, values it holds)."""
        grid = ", ".join(self.grid)
        if isinstance(claim, Runs):
            check_recorded(claim.claims, self.base.record, self)
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
            slug = "_".join(re.sub(r"[^a-z0-9.]+", "-", f"{short(p)}{label(v)}".lower()).strip("-.")
                            for p, v in zip(self.grid, values))
            result.append(override(override(exp, f"name={self.name + '.' + slug!r}"),
                                        f"title={self.name + ': ' + ', '.join(words)!r}"))  # short: frames show it
        return result
