"""The gradient diagram unrolled in time: layers × training time, coloured by the median log10|gradient|."""
from __future__ import annotations

import matplotlib as mpl
import numpy as np

from ..style import Style
from ...store.rundir import Run
from . import figure
from .gradient_diagram import MEDIAN, by_frame, frame_words, layer_positions, stopped, y_limits


def epoch_time(steps: np.ndarray, epoch_steps: np.ndarray) -> np.ndarray:
    """Steps as time in epochs (2.5: half-way through the third), exact when epochs differ in length."""
    return np.interp(steps, np.append(0, epoch_steps), np.arange(len(epoch_steps) + 1))


@figure("gradient_heatmap", title="Gradient heatmap", requires=("gradients",), caption="""
    The gradient diagram of every logged step at once: along x, training time in epochs; along y, the
    layers, input at the bottom; the colour is the median log<sub>10</sub>|g| of the layer's weights (left)
    and biases (right). A dark band at the bottom is gradient that fades before it reaches the first
    layers; a colour that changes over time is a layer starting, or stopping, to learn. The line marks the
    epoch of the frame (with <code>per_step=True</code>, one frame per logged step).""")
class GradientHeatmap:
    def __init__(self, run_path: str, style: Style, per_step: bool = False):
        run = Run(run_path)
        cols, self.frames = by_frame(run, per_step=True), by_frame(run, per_step)
        epoch_steps = by_frame(run)["step"]
        t = epoch_time(cols["step"], epoch_steps)
        self.when = epoch_time(self.frames["step"], epoch_steps)
        x, is_bias = layer_positions(run.params)
        self.n_frames = len(self.when)
        self.title = run.config.title or run.config.name
        self.stop = stopped(run)
        parts = [(sel, name) for sel, name in ((np.flatnonzero(~is_bias), "weights"),
                                               (np.flatnonzero(is_bias), "biases")) if sel.size]
        self.fig, axes = style.figure(ncols=len(parts) + 1, gridspec_kw={"width_ratios": [*[1] * len(parts), 0.05]})
        cmap = mpl.colormaps["viridis"].with_extremes(bad="#999999")  # grey: a tensor with no non-zero entry
        norm = mpl.colors.Normalize(*y_limits(cols["grad"], (MEDIAN,)))
        edges = np.append(0, t)  # logged step k stands for the steps since the one logged before
        self.cursors = []
        for ax, (sel, name) in zip(axes, parts):
            layers = x[sel]
            image = ax.pcolormesh(edges, np.append(layers - 0.5, layers[-1] + 0.5), cols["grad"][:, sel, MEDIAN].T,
                                  cmap=cmap, norm=norm, shading="flat", rasterized=True)
            ax.set_title(name)
            ax.sharey(axes[0])
            ax.set_xlabel("epoch")
            self.cursors.append(ax.axvline(self.when[0], color="white", linewidth=2, animated=True))
        axes[0].set_ylabel("layer (input at the bottom)")
        axes[0].set_ylim(x.min() - 0.5, x.max() + 0.5)
        axes[0].yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        self.fig.colorbar(image, cax=axes[-1], label="median log₁₀ |gradient|")
        self.heading = self.fig.suptitle(" ", x=0.01, ha="left", animated=True)

    def label(self, i: int) -> str:
        return f"{self.frames['unit']} {self.frames['label'][i]}"

    def update(self, i: int) -> None:
        f = self.frames
        for cursor in self.cursors:
            cursor.set_xdata([self.when[i], self.when[i]])
        self.heading.set_text(f"{self.title} — {self.label(i)}, " + frame_words(f, i, self.stop))
