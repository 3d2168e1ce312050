"""Activation health per layer and epoch: median |a|, dead units (ReLU family), saturation (Tanh), exact zeros."""
from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..style import Style
from ...store.rundir import ACTS, Run
from . import figure
from .update_ratio import logged, per_epoch

MEDIAN, ZEROS, SATURATED = (ACTS.index(s) for s in ("median", "zero_frac", "saturated"))


def health(run: Run) -> dict:
    act, _, epoch_of, e = logged(run, "act", "activation statistics")
    frames, epochs = per_epoch(act, epoch_of)
    return {"act": act, "frames": frames, "epochs": epochs, "dead": e["act_dead"][epochs - 1]}


@figure("activations", title="Activation health", requires=("activations",), caption="""
    What each activation layer puts out, one frame per epoch (its logged batches), layers along x, input on
    the left. Left: the median |a| over the layer's non-zero outputs (log scale). Right, as fractions of the layer's units: <b>dead</b>
    (ReLU family: never positive on any logged batch of the epoch: no gradient flows through them),
    <b>saturated</b> (Tanh |a| &gt; 0.97, Sigmoid within 0.03 of 0 or 1: their gradient is nearly zero) and
    <b>exact zeros</b> among the outputs of the last logged batch.""")
class ActivationHealth:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        self.d = health(run)
        about = run.instruments.get("activations", [])
        self.kinds = [a["kind"] for a in about]
        layers = self.d["act"].shape[1]
        self.x = np.arange(1, layers + 1)
        self.title = run.config.title or run.config.name
        self.n_frames = len(self.d["epochs"])
        self.fig, (left, right) = style.figure(ncols=2)
        medians = self.d["act"][..., MEDIAN]
        good = medians[np.isfinite(medians) & (medians > 0)]
        lo, hi = (good.min(), good.max()) if good.size else (1e-3, 1.0)
        left.set_yscale("log")
        left.set_ylim(10 ** np.floor(np.log10(lo) - 0.2), 10 ** np.ceil(np.log10(hi) + 0.2))
        right.set_ylim(-0.03, 1.03)
        c = style.colors
        self.median, = left.plot(self.x, np.ones(layers), color=c[0], marker="o", linewidth=2, animated=True,
                                 markersize=3 if layers < 40 else 0)
        self.series = []
        for key, name, color in (("dead", "dead (never > 0)", c[1]), ("saturated", "saturated", c[2]),
                                 ("zeros", "exact zeros", c[3])):
            if key == "dead" and "relu" not in self.kinds or key == "saturated" and "saturating" not in self.kinds:
                continue
            line, = right.plot(self.x, np.zeros(layers), color=color, marker="o", linewidth=2, label=name,
                               linestyle=":" if key == "zeros" else "-", markersize=3 if layers < 40 else 0,
                               animated=True)
            self.series.append((key, line))
        right.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, fontsize="small", frameon=False)
        for ax, label in ((left, "median |activation| (non-zero)"), (right, "fraction of units")):
            ax.set_xlim(0.5, layers + 0.5)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("activation layer (input → output)")
            ax.set_ylabel(label)
            ax.grid(True, which="major", alpha=0.3)
        self.heading = self.fig.suptitle(" ", x=0.01, ha="left", animated=True)

    def label(self, i: int) -> str:
        return f"epoch {self.d['epochs'][i]}"

    def update(self, i: int) -> None:
        row, dead = self.d["frames"][i], self.d["dead"][i]
        self.median.set_ydata(row[:, MEDIAN])
        values = {"dead": dead, "saturated": row[:, SATURATED], "zeros": row[:, ZEROS]}
        for key, line in self.series:
            line.set_ydata(values[key])
        words = [f"{name} {np.nanmean(values[key]):.0%}" for key, name in (("dead", "dead"), ("saturated", "saturated"))
                 if any(k == key for k, _ in self.series) and np.isfinite(values[key]).any()]
        self.heading.set_text(f"{self.title} — {self.label(i)}" + (": mean " + ", ".join(words) if words else ""))
