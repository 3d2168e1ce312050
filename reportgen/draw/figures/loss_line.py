"""The loss along one random direction through the weights, around the initial, every epoch's and the final."""
from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.collections import LineCollection

from ..style import Style
from ...store.rundir import Run
from . import figure
from .trajectory_map import arrays, heading


def centers(a: dict) -> list[str]:
    """Each centre's frame title: which weights, and the training loss there."""
    step, epoch = list(a["step"]), a["epoch"]
    words = []
    for s in a["center_step"]:
        i = step.index(s)
        which = ("initial weights" if s == 0 else f"final weights (epoch {epoch[i]:g})" if i == len(step) - 1
                 else f"weights of epoch {epoch[i]:g}")
        words.append(f"around the {which}: training loss {a['loss'][i]:.3g}")
    return words


NORMALISED = {"filter": "filter-normalised", "layer": "layer-normalised", "none": "unnormalised"}


@figure("loss_line", title="Loss along a line", requires=("landscape",), caption="""
    The loss L(θ + α·d) along one random Gaussian direction d through the weights θ, one frame per centre θ
    (the initial weights, every epoch's, the final ones: as the experiment declares): training loss solid,
    held-out loss dashed, on the same evaluation samples at every frame. d is drawn once and normalised to
    each θ's own weights, per filter unless the axis says otherwise (Li et al. 2018), so α = 1 moves every
    neuron by as much as its weights' norm and curves of different epochs compare. Earlier curves stay,
    faint: a valley that deepens and narrows is the landscape sharpening; one that widens is it flattening.
    Evaluation is in eval mode: dropout off, batch norm with its running statistics.""")
class LossLine:
    def __init__(self, run_path: str, style: Style):
        self.run = Run(run_path)
        a = arrays(self.run, "loss_line", "line_loss")
        self.a, self.words = a, centers(a)
        self.n_frames = len(a["center_step"])
        self.fig, ax = style.figure()
        x, train, test = a["line_a"], a["line_loss"], a["line_test_loss"]
        self.epoch = epoch = np.interp(a["center_step"], a["step"], a["epoch"])
        self.trail = LineCollection([np.column_stack([x, t]) for t in train], cmap="plasma", linewidths=1.2,
                                    alpha=0.55, norm=mpl.colors.Normalize(0, max(epoch[-1], 1e-9)), animated=True)
        self.trail.set_array(epoch)
        ax.add_collection(self.trail)
        if self.n_frames > 2:
            self.fig.colorbar(self.trail, ax=ax, label="epoch of earlier curves", pad=0.01, fraction=0.04)
        elif self.n_frames == 2:  # one earlier curve: the initial one, in grey
            self.trail.set_array(None)
            self.trail.set_color(style.fg)
            self.trail.set_alpha(0.4)
            self.trail.set_label("initial weights, train")
        (self.train,) = ax.plot(x, train[0], color=style.colors[0], linewidth=2.6, label="train", animated=True)
        (self.test,) = ax.plot(x, test[0], color=style.colors[1], linewidth=2.6, linestyle="--",
                               label="held-out", animated=True)
        both = np.concatenate([train.ravel(), test.ravel()])
        both = both[np.isfinite(both)]
        if both.min() > 0 and both.max() / both.min() > 20:
            ax.set_yscale("log")
            ax.set_ylim(both.min() / 1.5, both.max() * 1.5)
        else:
            ax.set_ylim(0, both.max() * 1.05)
        ax.set_xlim(x[0], x[-1])
        ax.axvline(0, color=style.fg, linewidth=0.8, alpha=0.5)
        ax.set_xlabel(f"α, the step along a {NORMALISED[str(a['directions'])]} random direction d")
        ax.set_ylabel("loss L(θ + α·d)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper center", ncols=3)
        self.title = ax.set_title(" ", loc="left", animated=True)

    def label(self, i: int) -> str:
        return f"weights of epoch {self.epoch[i]:g}"

    def update(self, i: int) -> None:
        a = self.a
        self.trail.set_segments([np.column_stack([a["line_a"], t]) for t in a["line_loss"][:i]])
        if self.n_frames > 2:
            self.trail.set_array(self.epoch[:i])
        self.train.set_ydata(a["line_loss"][i])
        self.test.set_ydata(a["line_test_loss"][i])
        self.title.set_text(heading(self.run, self.words[i]))
