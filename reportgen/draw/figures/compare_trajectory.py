"""A group's weight trajectories on one PCA plane fitted to all their snapshots, over that plane's loss surface."""
from __future__ import annotations

import matplotlib as mpl
import numpy as np

from ..style import Style
from ...store.rundir import Run
from . import Skipped, figure
from .compare_loss import group, look
from .trajectory_map import contour, limits, loss_norm


@figure("compare_trajectory", title="Trajectories on one plane", requires=("metric",), caption="""
    Where every run of the group travels, on one map: the two principal directions of all their weight
    snapshots together (PCA of the pooled snapshots; each axis says how much of their variance it keeps), with
    the snapshots' mean at the origin, so that runs from the same start can be followed as they part. The paths
    grow on the same clock, one frame per snapshot time in epochs; a circle marks each start, a ring the
    current snapshot. Underneath, when the runs share their model and data: the training loss over that plane
    (log-spaced contours), measured on the plane itself, which the snapshots lie only near. On the right, the
    training loss at each snapshot.""")
class CompareTrajectory:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        if not (run.path / "compare.npz").exists():
            raise Skipped(f"compare_trajectory: {run.path.name} has no compare.npz (run before comparisons: "
                          f"`reportgen run --clean` redoes it)")
        a = run.compare()
        if "why" in a:
            raise Skipped(f"compare_trajectory: {run.path.name}: {a['why']}")
        words = {m.path.name: w for _, m, w in group(run, "compare_trajectory")}
        self.a, self.title = a, run.config.title or run.config.name
        self.times = np.unique(a["epoch"])
        self.n_frames = len(self.times)
        self.fig, (ax, side) = style.figure(ncols=2, gridspec_kw={"width_ratios": (1.7, 1)})
        if "plane_loss" in a:
            filled, _ = contour(ax, a["plane_a"], a["plane_b"], a["plane_loss"], loss_norm(a["plane_loss"]), style)
            self.fig.colorbar(filled, ax=ax, label="training loss on the plane", pad=0.01, fraction=0.05, format="%.3g")
            limits(ax, np.stack([a["plane_a"][[0, -1]], a["plane_b"][[0, -1]]], 1), pad=0)
        else:
            limits(ax, a["coords"])
            ax.grid(True, alpha=0.3)
        self.paths = []
        for k, name in enumerate(a["names"]):
            mine = np.flatnonzero(a["owner"] == k)
            if not mine.size:
                continue
            c, xy = look(style, k), a["coords"][mine]
            ax.plot(*xy[0], "o", color=c["color"], markeredgecolor=style.bg, markersize=9, zorder=4)
            (path,) = ax.plot([], [], color=c["color"], linewidth=2.2, label=words.get(str(name), str(name)),
                              animated=True, zorder=3)
            (head,) = ax.plot([], [], "o", markersize=12, markerfacecolor="none", markeredgewidth=2.2,
                              color=c["color"], animated=True, zorder=5)
            side.plot(a["epoch"][mine], a["loss"][mine], color=c["color"], marker=c["marker"], markersize=3,
                      linewidth=1.6)
            self.paths.append((a["epoch"][mine], xy, path, head))
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(5))
        ax.set_xlabel(f"joint PC1 ({100 * a['explained'][0]:.1f} % of variance)")
        ax.set_ylabel(f"joint PC2 ({100 * a['explained'][1]:.1f} % of variance)")
        ax.legend(loc="upper right", fontsize="small", framealpha=0.85)
        if np.all(a["loss"] > 0) and a["loss"].max() / a["loss"].min() > 20:
            side.set_yscale("log")
        side.set_xlabel("epoch")
        side.set_ylabel("training loss at the snapshot")
        side.yaxis.set_label_position("right")
        side.yaxis.tick_right()
        side.grid(True, alpha=0.3)
        self.cursor = side.axvline(self.times[0], color=style.fg, linewidth=1, animated=True)
        self.heading = self.fig.suptitle(" ", x=0.01, ha="left", animated=True)

    def label(self, i: int) -> str:
        return f"epoch {self.times[i]:.3g}"

    def update(self, i: int) -> None:
        for epoch, xy, path, head in self.paths:
            shown = xy[epoch <= self.times[i]]
            path.set_data(shown[:, 0], shown[:, 1])
            head.set_data(shown[-1:, 0], shown[-1:, 1])
        self.cursor.set_xdata([self.times[i]] * 2)
        self.heading.set_text(f"{self.title} — {self.label(i)}")
