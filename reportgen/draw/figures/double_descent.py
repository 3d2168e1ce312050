"""Double descent with polynomials: the minimum-norm fit at each degree over its points, and the errors against degree."""
from __future__ import annotations

import numpy as np

from ...store.rundir import Run
from ..style import Style
from . import figure

TOP, FLOOR = 1e6, 1e-4  # errors beyond are drawn at the edges (the peak reaches 1e20, an interpolation 1e-30)


@figure("double_descent", title="Double descent", caption="""
    Left: the training points (noisy samples of sin 2πx, dots), the noise-free curve (grey) and the polynomial fitted
    at the frame's degree: Chebyshev features and, among the coefficients that fit best, those of smallest norm
    (numpy's lstsq). Right, against the degree on a log scale: the mean squared error on the training points and on
    100 evenly spaced points of the noise-free curve. At degree points − 1 (dotted: as many features as points) the
    fit first passes through every point; there the test error peaks, beyond it the smallest-norm fit grows smoother
    and the test error falls again. Values above 10<sup>6</sup> are drawn at the top edge, below 10<sup>−4</sup> (an
    exact fit) at the bottom.""")
class DoubleDescentFigure:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        a = run.arrays()
        self.a, self.n_frames = a, len(a["degrees"])
        self.fig, (ax, plot) = style.figure(ncols=2, gridspec_kw={"width_ratios": (1, 1.1)})
        self.fig.suptitle(run.config.title or run.config.name)
        ax.plot(a["grid"], np.sin(2 * np.pi * a["grid"]), color=style.fg, alpha=0.35, linewidth=3, label="sin 2πx")
        ax.plot(a["x"], a["y"], "o", color=style.colors[0], markersize=4, label=f"{len(a['x'])} training points")
        (self.curve,) = ax.plot([], [], color=style.colors[1], linewidth=2, label="fit", animated=True)
        ax.set_ylim(-2, 2)
        ax.set_xlim(-1, 1)
        ax.set_xlabel("x")
        ax.legend(loc="lower left", fontsize="small")
        self.degree = ax.set_title(" ", loc="left")
        self.degree.set_animated(True)
        self._errors(plot, style)

    def _errors(self, ax, style: Style):
        a, d = self.a, self.a["degrees"]
        self.test = np.minimum(a["test_error"], TOP)
        ax.plot(d, np.maximum(a["train_error"], FLOOR), color=style.colors[0], linewidth=2, label="training error")
        ax.plot(d, self.test, color=style.colors[1], linewidth=2, label="test error")
        ax.axvline(len(a["x"]) - 1, color=style.fg, linewidth=1, linestyle=":")
        ax.text(len(a["x"]) - 1, TOP * 3, " as many features as points", fontsize="small", va="top")
        ax.set_yscale("log")
        ax.set_ylim(FLOOR / 2, TOP * 5)
        ax.set_xlim(0, d[-1])
        ax.set_xlabel("polynomial degree")
        ax.set_ylabel("mean squared error")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower left", fontsize="small")
        self.cursor = ax.axvline(0, color=style.fg, linewidth=1.2, animated=True)
        (self.dot,) = ax.plot([], [], "o", color=style.colors[1], markersize=7, animated=True)

    def label(self, i: int) -> str:
        return f"degree {int(self.a['degrees'][i])}"

    def update(self, i: int) -> None:
        a, d = self.a, int(self.a["degrees"][i])
        self.curve.set_data(a["grid"], np.clip(a["curves"][i], -10, 10))
        self.cursor.set_xdata([d, d])
        self.dot.set_data([d], [self.test[i]])
        over = " (off the scale)" if a["test_error"][i] > TOP else ""
        self.degree.set_text(f"{self.label(i)}: test error {a['test_error'][i]:.3g}{over}")
