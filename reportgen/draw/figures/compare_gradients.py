"""A group's gradient diagrams on the same axes and frame clock: overlaid for a few runs, side by side for more."""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..style import Style
from ...store.rundir import Run
from . import Skipped, figure
from .compare_loss import end_words, group, look
from .gradient_diagram import MEDIAN, Q25, Q75, by_frame, frame_words, layer_positions, outline, y_limits

OVERLAID = 3   # "auto" draws up to this many runs on one axes, more in panels of their own
PANELS = 16    # at most this many panels: more would be too small to read on a slide


@figure("compare_gradients", title="Gradient diagrams, compared", requires=("metric",), caption="""
    The gradient diagram of every run of the group at the same epoch (one frame per epoch), on the same axes:
    along x, the weight layers in network order (input on the left), along y, log<sub>10</sub>|g| of each
    layer's weights (median line and 25–75&nbsp;% band; biases are in each run's own diagram). Up to three runs
    share one plot, more get a panel each with the same limits (<code>layout="overlay"</code> or
    <code>"panels"</code> chooses). A run that has stopped keeps its last epoch and says so.""")
class CompareGradients:
    def __init__(self, run_path: str, style: Style, layout: Literal["auto", "overlay", "panels"] = "auto"):
        run = Run(run_path)
        runs = [(k, m, w) for k, m, w in group(run, "compare_gradients") if m.has("gradients")]
        if len(runs) < 2:
            raise Skipped(f"compare_gradients: fewer than two runs of {run.path.name} logged gradients")
        if len(runs) > PANELS:
            raise Skipped(f"compare_gradients: {len(runs)} runs, at most {PANELS} are drawn side by side")
        self.title = run.config.title or run.config.name
        self.n_frames = 0
        overlay = layout == "overlay" or (layout == "auto" and len(runs) <= OVERLAID)
        cols = 1 if overlay else math.ceil(math.sqrt(len(runs)))
        rows = 1 if overlay else math.ceil(len(runs) / cols)
        self.fig, axes = style.figure(nrows=rows, ncols=cols, sharex=True, sharey=True, squeeze=False)
        axes = axes.ravel()
        self.runs, grads, width = [], [], 1
        for n, (k, member, words) in enumerate(runs):
            d = by_frame(member)
            x, is_bias = layer_positions(member.params)
            weights = np.flatnonzero(~is_bias)
            ax = axes[0 if overlay else n]
            c = look(style, k)
            band = ax.fill_between(x[weights], 0, 0, color=c["color"], alpha=0.22, linewidth=0, animated=True)
            (line,) = ax.plot(x[weights], np.zeros(weights.size), color=c["color"], linewidth=2, label=words,
                              marker=c["marker"], markersize=3 if weights.size < 40 else 0, animated=True)
            text = ax.text(0.02, 0.97 - (0.07 * n if overlay else 0), "", transform=ax.transAxes, va="top",
                           fontsize="small", color=c["color"] if overlay else style.fg, animated=True,
                           bbox={"facecolor": style.bg, "edgecolor": "none", "alpha": 0.75, "pad": 1})
            self.runs.append((d, x[weights], weights, band, line, text, words if overlay else "", end_words(member)))
            grads.append(d["grad"][:, weights])
            self.n_frames, width = max(self.n_frames, int(d["label"][-1])), max(width, int(x.max()))
            if not overlay:
                ax.set_title(words, fontsize="small")
        ax0 = axes[0]
        ax0.set_xlim(0.5, width + 0.5)
        lo, hi = y_limits(np.concatenate([g.reshape(-1, g.shape[-1]) for g in grads]))
        ax0.set_ylim(lo, hi + (0.08 * len(runs) * (hi - lo) if overlay else 0.1 * (hi - lo)))  # room for the words
        ax0.xaxis.set_major_locator(MaxNLocator(integer=True))
        for k, ax in enumerate(axes):
            ax.grid(True, alpha=0.3)
            ax.set_visible(overlay and k == 0 or not overlay and k < len(runs))
        if overlay:
            ax0.legend(loc="lower right", fontsize="small", framealpha=0.85)
        self.fig.supxlabel("layer (input → output)", fontsize="medium")
        self.fig.supylabel("log₁₀ |gradient| (weights)", fontsize="medium")
        self.heading = self.fig.suptitle(" ", x=0.01, ha="left", animated=True)

    def label(self, i: int) -> str:
        return f"epoch {i + 1}"

    def update(self, i: int) -> None:
        for d, x, weights, band, line, text, words, ended in self.runs:
            j = max(0, np.searchsorted(d["label"], i + 1, side="right") - 1)  # its latest epoch up to this one
            g = d["grad"][j][weights]
            line.set_ydata(g[:, MEDIAN])
            band.set_verts([outline(x, g[:, Q25], g[:, Q75])])
            last = j == len(d["label"]) - 1
            state = ended if last and (d["label"][j] < i + 1 or ended.startswith("diverged")) else frame_words(d, j)
            text.set_text(f"{words}: {state}" if words else state)
        self.heading.set_text(f"{self.title} — {self.label(i)}")
