"""Optimizers racing from one start over a 2-D function: their paths on its contour map, their losses beside."""
from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.colors import LogNorm

from ..style import Style
from ...store.rundir import Run
from . import figure

FRAMES = 60


def palette(style: Style, n: int) -> list:
    """n distinct colours: the theme's own first, then the rest of tab10."""
    extra = [mpl.colors.to_hex(c) for c in mpl.colormaps["tab10"].colors]
    return (style.colors + [c for c in extra if c not in style.colors])[:n]


def contours(ax, a: dict, style: Style) -> None:
    """The function's contour map over its box: log-spaced levels above its minimum (linear if unbounded)."""
    (x0, x1), (y0, y1) = a["box"]
    n = a["surface"].shape[0]
    x, y = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    bounded = np.isfinite(a["minimum"])
    z = a["surface"] - a["minimum"] + 1e-3 if bounded else a["surface"]
    levels = np.geomspace(z.min(), z.max(), 24) if bounded else np.linspace(z.min(), z.max(), 24)
    norm = LogNorm(levels[0], levels[-1]) if bounded else None
    ax.contourf(x, y, z, levels, norm=norm, cmap="Greys", alpha=0.25)
    ax.contour(x, y, z, levels, norm=norm, colors=style.fg, linewidths=0.4, alpha=0.5)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")


@figure("optimizer_race", title="Optimizer race", caption="""
    Left: the contour map of the function (darker is higher), every optimizer starting from the same
    point (square) and drawing its path as it goes; stars mark the minima. Right: the loss of each against
    the iteration, as the gap above the minimum on a log scale (the value itself for a function without
    one). All are torch.optim's own implementations, plus Lion and Muon; each learning rate is the one
    declared in the experiment's script. A path that stops has diverged.""")
class OptimizerRaceFigure:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        a = run.arrays()
        self.paths, self.losses, self.surface = a["paths"], a["losses"], a["surface"]
        steps = self.paths.shape[1] - 1
        self.at = np.unique(np.linspace(0, steps, min(FRAMES, steps + 1)).round().astype(int))
        self.n_frames = len(self.at)
        self.fig, (ax, plot) = style.figure(ncols=2, gridspec_kw={"width_ratios": (1.1, 1)})
        contours(ax, a, style)
        start = self.paths[0, 0]
        ax.plot(*start, "s", color=style.fg, markersize=7, zorder=3)
        for m in a["minima"]:
            ax.plot(*m, "*", color=style.fg, markersize=13, markeredgecolor=style.bg, zorder=3)
        config = run.config
        self.fig.suptitle(config.title or config.name)
        colors = palette(style, len(a["labels"]))
        self.bounded = bool(np.isfinite(a["minimum"]))
        self.gap = self.losses - a["minimum"] if self.bounded else self.losses
        self.artists = []
        for label, color, gap in zip(a["labels"], colors, self.gap):
            name = str(label) + ("" if np.isfinite(gap[-1]) else " (diverged)")
            (path,) = ax.plot([], [], color=color, linewidth=1.8, animated=True)
            (head,) = ax.plot([], [], "o", color=color, markersize=6, markeredgecolor=style.bg, animated=True)
            (curve,) = plot.plot([], [], color=color, linewidth=1.6, label=name, animated=True)
            self.artists.append((path, head, curve))
        self._plot(plot, steps, config)

    def _plot(self, ax, steps: int, config) -> None:
        finite = self.gap[np.isfinite(self.gap)]
        if self.bounded:
            positive = finite[finite > 0]
            ax.set_yscale("log")
            ax.set_ylim(max(positive.min(), positive.max() * 1e-12) / 3, positive.max() * 3)
            ax.set_ylabel("f(x) − min f")
        else:  # unbounded below: the values on the map, so a racer leaves both panels together
            low, high = self.surface.min(), max(finite.max(), self.gap[:, 0].max())
            ax.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))
            ax.set_ylabel("f(x)")
        ax.set_xlim(0, steps)
        ax.set_xlabel("iteration" + (f" (gradient noise σ = {config.noise:g})" if config.noise else ""))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small", frameon=False)
        self.counter = ax.set_title(" ", loc="left")
        self.counter.set_animated(True)

    def label(self, i: int) -> str:
        return f"iteration {self.at[i]}"

    def update(self, i: int) -> None:
        t = self.at[i]
        for (path, head, curve), p, gap in zip(self.artists, self.paths, self.gap):
            path.set_data(p[:t + 1, 0], p[:t + 1, 1])
            last = p[:t + 1][np.isfinite(p[:t + 1, 0])][-1:]
            head.set_data(last[:, 0], last[:, 1])
            curve.set_data(np.arange(t + 1), gap[:t + 1])
        self.counter.set_text(self.label(i))
