"""The learning rate of every step under the training loss, so a schedule's turns line up with the loss's."""
from __future__ import annotations

import numpy as np

from ..style import Style
from ...store.rundir import Run
from . import figure
from .grad_norm import running_median


def log_if_wide(ax, values: np.ndarray, ratio: float = 20) -> None:
    """A log y axis when the positive values span more than `ratio`."""
    finite = values[np.isfinite(values) & (values > 0)]
    if finite.size and finite.max() / finite.min() > ratio:
        ax.set_yscale("log")


@figure("lr_schedule", title="Learning rate and loss", requires=("metrics",), formats=("png",), caption="""
    Top: the training loss of every step (thin), its running median (thick) and the test loss after each
    epoch (dots); bottom: the learning rate the optimizer used at that step, as the schedule set it.
    A loss that rises as the rate peaks is a rate too high for that phase; warmup keeps the first steps
    small while the network is fragile.""")
class LrSchedule:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        e = run.epochs()
        step, loss, lr = e["step"], e["loss"].astype(np.float64), e["lr"]
        c = style.colors
        self.fig, (top, bottom) = style.figure(nrows=2, sharex=True, gridspec_kw={"height_ratios": (2, 1)})
        top.plot(step, loss, color=c[0], linewidth=0.8, alpha=0.4, label="training loss, per step")
        at, median = running_median(np.nan_to_num(loss, nan=np.inf), max(3, len(loss) // 25))
        top.plot(step[at], median, color=c[0], linewidth=2, label="running median")
        ends = step[e["epoch_end"] - 1] if "epoch_end" in e else step[-1:]
        if "epoch_test_loss" in e:
            top.plot(ends, e["epoch_test_loss"], "o", color=c[3], label="test loss, per epoch")
        log_if_wide(top, loss)
        top.set_ylabel("loss")
        top.grid(True, alpha=0.3)
        top.legend(loc="upper right", fontsize="small")
        status = run.status
        stopped = f" — diverged at step {status['step']}" if status["state"] == "diverged" else ""
        top.set_title(f"{run.config.title or run.config.name}{stopped}", loc="left")
        bottom.plot(step, lr, color=c[2], linewidth=2)
        log_if_wide(bottom, lr, ratio=100)
        bottom.set_ylim(0 if bottom.get_yscale() == "linear" else None, None)
        bottom.set_ylabel("learning rate")
        bottom.set_xlabel("step")
        bottom.grid(True, alpha=0.3)
        self.n_frames = 1

    def update(self, i: int) -> None:
        """One still frame: everything was drawn in __init__."""
