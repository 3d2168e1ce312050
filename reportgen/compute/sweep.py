"""A group's runner (Sweep, Compare): train its runs side by side, then collect what its figures draw."""
from __future__ import annotations

import itertools

import numpy as np

from ..declare import Compare, Sweep
from ..declare.sweep import Group, label
from ..store.entries import Entry, members, needs_run
from ..store.rundir import STATS, Run
from .execute import execute_all
from .runners import RUNNERS


@RUNNERS.register(Compare)
@RUNNERS.register(Sweep)
def run_sweep(sweep: Group, run: Run, progress=None) -> str:
    """Train the runs not yet finished side by side (one process a core, or a GPU each), then collect what
    the group's figures draw into its arrays.npz and compare.npz."""
    from . import compare
    from .runtime import cores, environment, pick_device
    if not run.exists():
        run.create(sweep, kind="sweep", env=environment(pick_device(sweep.base.device)))
    entries = members(Entry(sweep, run.path / "config.json", run))
    todo = [e for e in entries if needs_run(e)]
    run.set_status("running", message=f"training {len(todo)} of {len(entries)} runs")
    for _ in execute_all(todo, min(cores(), len(todo)), progress):
        pass
    run.write_arrays(**collect(sweep, [e.run for e in entries]))
    run.set_status("running", message="fitting one plane to every run's snapshots")
    compare.compute(sweep, [e.run for e in entries], run)
    states = [e.run.status["state"] for e in entries]
    run.set_status("complete", message=f"{states.count('diverged')} of {len(states)} runs diverged"
                   if "diverged" in states else "")
    return "complete"


def per_epoch(e: dict[str, np.ndarray], metric: str) -> np.ndarray:
    """The metric at the end of every epoch of one run's epochs() (NaN where it diverged)."""
    if metric == "train_loss":
        return np.array([np.mean(part) for part in np.split(e["loss"], e["epoch_end"][:-1])])
    return e[f"epoch_{metric}"]


def collect(sweep: Group, runs: list[Run]) -> dict[str, np.ndarray]:
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
