"""The tuning playbook's warmup procedure: at a learning rate too high to start with, which warmup length
lets the run train, and how the loss looks under each."""
from __future__ import annotations

from ..style import Style
from ...store.rundir import Run
from ...declare.sweep import label
from . import figure
from .lr_sweep import curves, feasibility, members, swept, value_at, warn


@figure("warmup_sweep", title="Warmup sweep", requires=("metric",), formats=("png",), caption="""
    The same base learning rate, above the largest one that trains without help, under linear warmups of
    different lengths (schedule.steps, log scale). Left: the training loss under each warmup; dashed
    lines diverged or ended above where they started. Right: the best value of the sweep's metric per
    warmup length: the shortest warmup that trains well is the one to keep; if none does, the base rate
    is too high for warmup alone.""")
class WarmupSweep:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        ms = sorted(members(run, swept(run, "steps")), key=lambda m: m.value)
        self.fig, (left, right) = style.figure(ncols=2)
        curves(left, ms, style, "warmup")
        lr = value_at(ms[0].run.config, "optimizer.lr")
        self.fig.suptitle(f"{run.config.title or run.config.name} — base lr {label(lr)}", x=0.01, ha="left")
        feasibility(right, ms, style, run.config.metric, "warmup steps")
        if all(m.infeasible for m in ms):
            warn(right, "no warmup length trains: lower the base rate")
        self.n_frames = 1

    def update(self, i: int) -> None:
        """One still frame: everything was drawn in __init__."""
