"""Where gradient descent and Newton's method head on a non-convex function: direction fields and particles."""
from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from ..style import Style
from ...store.rundir import Run
from . import figure
from .optimizer_race import contours

KINDS = ("minimum", "saddle", "maximum")  # by the number of negative Hessian eigenvalues
MARKERS = ("o", "X", "^")
TRAIL = 6  # steps of path drawn behind each particle


def kind_colors(style: Style) -> list[str]:
    return [style.colors[0], style.colors[3], style.colors[1]]


def destinations(paths: np.ndarray, points: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """The kind of stationary point each particle ended at (0, 1, 2), or -1: still moving, or gone."""
    end = paths[-1]
    distance = np.linalg.norm(end[:, None] - points[None], axis=-1)
    near = np.where(np.isfinite(distance), distance, np.inf).min(1) < 0.05
    return np.where(near, kinds[np.nan_to_num(distance, nan=np.inf).argmin(1)], -1)


@figure("newton_field", title="Newton's method vs gradient descent", caption="""
    Arrows show only directions, normalised to one length, over the function (light low, dark high). Left,
    gradient descent's −∇f: always downhill. Right, Newton's −H<sup>−1</sup>∇f, the step to the stationary
    point of the local quadratic model, coloured by what that point is: blue a minimum, orange a saddle,
    red a maximum, which is where Newton heads wherever the function curves down. Dots are particles
    started on a grid, each taking small steps along its method's direction; a particle is coloured by the
    kind of point it reaches (grey: not there yet). Markers show every stationary point.""")
class NewtonFieldFigure:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        a = run.arrays()
        self.paths = (a["gd_paths"], a["newton_paths"])
        self.n_frames = len(self.paths[0])
        self.fig, axes = style.figure(ncols=2)
        self.fig.suptitle(run.config.title or run.config.name)
        colors = kind_colors(style)
        self.dots, self.trails, self.titles = [], [], []
        for ax, field, paths, name in zip(axes, (a["gradient"], a["newton"]), self.paths,
                                          ("gradient descent: −∇f", "Newton: −H⁻¹∇f")):
            self._map(ax, a, style)
            with np.errstate(invalid="ignore"):  # 0/0 at a stationary point on the grid: no arrow there
                unit = field / np.linalg.norm(field, axis=-1, keepdims=True)
            newton = field is a["newton"]
            arrow_colors = np.array(colors)[a["negative_curvature"].ravel()] if newton else style.fg
            ax.quiver(a["x"], a["y"], unit[..., 0], unit[..., 1], color=arrow_colors, angles="xy", pivot="mid",
                      scale=1.6 * len(a["x"]), width=0.004, alpha=0.8)
            ends = destinations(paths, a["stationary"], a["stationary_kind"])
            particle_colors = [colors[k] if k >= 0 else "#888888" for k in ends]
            self.trails.append([ax.plot([], [], color=c, linewidth=1, alpha=0.7, animated=True)[0]
                                for c in particle_colors])
            self.dots.append(ax.scatter(*paths[0].T, s=30, c=particle_colors, edgecolors=style.bg, linewidths=0.6,
                                        zorder=4, animated=True))
            self.titles.append((ax.set_title(" ", fontsize="medium"), name))
            self.titles[-1][0].set_animated(True)
        handles = [Line2D([], [], linestyle="", marker=m, color=c, markeredgecolor=style.bg, markersize=9, label=k)
                   for k, m, c in zip(KINDS, MARKERS, colors)]
        self.fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)

    @staticmethod
    def _map(ax, a: dict, style: Style) -> None:
        contours(ax, {**a, "minimum": a["surface"].min()}, style)
        for k, (marker, color) in enumerate(zip(MARKERS, kind_colors(style))):
            points = a["stationary"][a["stationary_kind"] == k]
            ax.plot(points[:, 0], points[:, 1], marker, color=color, markersize=10, markeredgecolor=style.bg,
                    markeredgewidth=1.2, linestyle="", zorder=5)
        ax.tick_params(labelsize="small")

    def label(self, i: int) -> str:
        return f"step {i}"

    def update(self, i: int) -> None:
        for paths, trails, dots, (title, name) in zip(self.paths, self.trails, self.dots, self.titles):
            for p, trail in enumerate(trails):
                trail.set_data(paths[max(0, i - TRAIL):i + 1, p, 0], paths[max(0, i - TRAIL):i + 1, p, 1])
            dots.set_offsets(paths[i])
            title.set_text(f"{name}, {self.label(i)}")
