"""How each kind of declaration computes its run (RUNNERS), and the checks that need compute (CHECKS)."""
from __future__ import annotations

from ..declare import Experiment
from ..registry import Registry

# runner(declaration, run, progress) -> final state; filled here and by demos.py and sweep.py
RUNNERS = Registry("runner")
# check(declaration) -> None or raise SpecError: what only the computing side can say when a script loads
CHECKS = Registry("check")


@RUNNERS.register(Experiment)
def run_training(exp: Experiment, run, progress=None) -> str:
    """Train, then (the loop calls out, it does not reach in) compute the landscape stage if declared. The
    run stays "running" until the landscape is stored: a killed run resumes there, its grids cached."""
    from .projection import compute
    from .train import train
    if exp.landscape is None:
        return train(exp, run, progress)
    if train(exp, run, progress, final="running") != "complete":
        return "diverged"
    status = run.status
    run.set_status("running", status["epoch"], status["step"], "computing the loss landscape")
    compute(exp, run)
    run.set_status("complete", status["epoch"], status["step"], status["message"])
    return "complete"
