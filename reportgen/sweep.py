"""Sweeps: a grid over any fields of an experiment; each combination an ordinary run, collected for one figure."""
from __future__ import annotations

import itertools
import os
import re
from typing import Any

import numpy as np

from . import project, spec
from .demos import Demo
from .rundir import STATS, Run
from .spec import Experiment, SpecError, require

# what a sweep can compare, read from each run's epochs: the name and how it reads on an axis
METRICS = {"train_loss": "training loss", "test_loss": "test loss", "test_accuracy": "test accuracy"}


def label(value) -> str:
    """A grid value as people write it: 3e-05, (3e-05, 3e-06), Tanh(), LeakyReLU(negative_slope=2)."""
    if isinstance(value, (bool, str)):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(label, value)) + ")"
    return repr(value)


def short(path: str) -> str:
    """The last part of a field's path: optimizer.lr -> lr."""
    return path.rsplit(".", 1)[-1]


@spec.spec
class Sweep(Demo):
    """Every combination of `grid` ({field path: values}) applied to `base` by `--set`-style overrides. Each
    is an ordinary experiment named <name>.<field><value>_..., with a run directory of its own inside the
    sweep's (so `--clean` redoes them all), trained side by side on the spare cores; a run that diverges is
    a result, not a failure. `base`'s own name and title are replaced. `metric` is what the figure compares."""
    figures: tuple[str, ...] = ("sweep_grid",)
    base: Experiment
    grid: dict[str, tuple[Any, ...]]
    metric: str = "train_loss"

    def check(self):
        super().check()
        require(bool(self.grid) and all(self.grid.values()), self, "grid",
                'a dict of field paths to one or more values, e.g. {"optimizer.lr": (3e-5, 3e-6)}')
        require(self.metric in METRICS, self, "metric", ", ".join(METRICS))
        names = [m.name for m in self.members()]
        require(len(set(names)) == len(names), self, "grid", "values that differ in their written form")

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
                    exp = spec.override(exp, f"{path}={value!r}")
                except SpecError as e:
                    why = str(e).removeprefix(f"--set {path}: ")
                    raise SpecError(f"Sweep.grid[{path!r}] = {value!r}: {why}") from None
            words = [f"{short(p)} {label(v)}" for p, v in zip(self.grid, values)]
            slug = "_".join(re.sub(r"[^a-z0-9.]+", "-", f"{short(p)}{label(v)}".lower()).strip("-.")
                            for p, v in zip(self.grid, values))
            result.append(spec.override(spec.override(exp, f"name={self.name + '.' + slug!r}"),
                                        f"title={self.name + ': ' + ', '.join(words)!r}"))  # short: frames show it
        return result


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@project.runner(Sweep)
def run_sweep(sweep: Sweep, run: Run, progress=None) -> str:
    """Train the combinations not yet finished side by side (one process a core, or a GPU each), then
    collect what the sweep figure draws into the sweep's arrays.npz."""
    from .train import environment, pick_device
    if not run.exists():
        run.create(sweep, kind="sweep", env=environment(pick_device(sweep.base.device)))
    entries = project.members(project.Entry(sweep, run.path / "config.json", run))
    todo = [e for e in entries if project.needs_run(e)]
    run.set_status("running", message=f"training {len(todo)} of {len(entries)} runs")
    for _ in project.execute_all(todo, min(cores(), len(todo)), progress):
        pass
    run.write_arrays(**collect(sweep, [e.run for e in entries]))
    states = [e.run.status["state"] for e in entries]
    run.set_status("complete", message=f"{states.count('diverged')} of {len(states)} runs diverged"
                   if "diverged" in states else "")
    return "complete"


def per_epoch(e: dict[str, np.ndarray], metric: str) -> np.ndarray:
    """The metric at the end of every epoch of one run's epochs() (NaN where it diverged)."""
    if metric == "train_loss":
        return np.array([np.mean(part) for part in np.split(e["loss"], e["epoch_end"][:-1])])
    return e[f"epoch_{metric}"]


def collect(sweep: Sweep, runs: list[Run]) -> dict[str, np.ndarray]:
    """The grid's results, one row per combination: its value indices, state, the metric per epoch and the
    first layer's median log10|g| at every logged step, against time in epochs (NaN-padded)."""
    index = list(itertools.product(*(range(len(v)) for v in sweep.grid.values())))
    data = [r.epochs() for r in runs]
    epochs = max(len(e.get("epoch_end", ())) for e in data)
    logged = max(len(e.get("grad_step", ())) for e in data)
    metric, first, when = (np.full((len(runs), n), np.nan) for n in (epochs, logged, logged))
    for k, e in enumerate(data):
        if e:
            m = per_epoch(e, sweep.metric)
            metric[k, :len(m)] = m
            steps_per_epoch = e["epoch_end"][0]
            first[k, :len(e["grad_step"])] = e["grad"][:, 0, STATS.index("median")]
            when[k, :len(e["grad_step"])] = e["grad_step"] / steps_per_epoch
    return {"fields": np.array(list(sweep.grid)), "index": np.array(index, np.int64),
            "state": np.array([r.status["state"] for r in runs]), "epoch": np.array([r.status["epoch"] for r in runs]),
            "step": np.array([r.status["step"] for r in runs]),
            "names": np.array([r.path.name for r in runs]), "metric": metric, "first_grad": first,
            "first_time": when, **{f"labels_{i}": np.array([label(v) for v in values])
                                   for i, values in enumerate(sweep.grid.values())}}
