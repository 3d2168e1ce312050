"""Where the weights travel: the training trajectory projected to 2-D, drawn as it grows, one frame a snapshot."""
from __future__ import annotations

from typing import Literal

import matplotlib as mpl
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm

from ..style import Style
from ...store.rundir import Run
from . import Skipped, figure

CMAP = "YlGnBu_r"  # loss: dark is low, so the minimum reads as a deep basin


def arrays(run: Run, name: str, *keys: str) -> dict[str, np.ndarray]:
    """The run's landscape.npz, or Skipped naming what figure `name` needs that the run did not compute."""
    a = run.landscape()
    missing = [k for k in keys if k not in a]
    if missing:
        raise Skipped(f"{name}: run {run.path.name} computed no {', '.join(missing)} "
                      f"(see Landscape in the experiment; PCA needs at least 4 weight snapshots)")
    return a


def axis_labels(a: dict, projection: str) -> tuple[str, str]:
    if projection == "random":
        return "random direction 1", "random direction 2"
    name = {"pca": "PC", "mds": "MDS "}[projection]
    return tuple(f"{name}{k + 1} ({100 * a[f'{projection}_explained'][k]:.1f} % of variance)" for k in range(2))


def loss_norm(surfaces: np.ndarray) -> LogNorm:
    """One log colour scale for loss surfaces: from their least value to their 98th percentile (the edges
    of a plane climb so steeply that their highest values would leave one colour to everything else)."""
    z = surfaces[np.isfinite(surfaces)]
    lo = max(z.min(), 1e-4)
    return LogNorm(lo, max(np.percentile(z, 98), lo * 10))


def contour(ax, a: np.ndarray, b: np.ndarray, z: np.ndarray, norm: LogNorm, style: Style) -> tuple:
    """Filled log-spaced loss contours and labelled lines (both ContourSets, for colorbar() and remove());
    values beyond the scale take the colour of its end."""
    levels = np.geomspace(norm.vmin, norm.vmax, 13)
    norm = LogNorm(norm.vmin, norm.vmax)  # its own: a colour bar resets its ticks whenever its norm is touched
    filled = ax.contourf(a, b, np.clip(z, norm.vmin, norm.vmax), levels, norm=norm, cmap=CMAP)
    # light lines and labels over the dark (low) fills, dark ones over the light
    shade = mpl.colormaps[CMAP](norm(levels[::2]))[:, :3] @ [0.299, 0.587, 0.114]
    colors = ["white" if s < 0.5 else "#222222" for s in shade]
    lines = ax.contour(a, b, z, levels[::2], norm=norm, colors=colors, linewidths=0.6, alpha=0.6)
    ax.clabel(lines, fontsize="small", fmt="%.3g")
    return filled, lines


class GrowingPath:
    """The trajectory on `ax`, grown to snapshot i: segments and dots coloured by epoch, dots sized by the
    loss (larger is higher), the current snapshot ringed."""

    def __init__(self, ax, coords: np.ndarray, epoch: np.ndarray, loss: np.ndarray, style: Style):
        self.coords = coords
        self.time = mpl.colors.Normalize(0, max(epoch[-1], 1e-9))
        span = np.log(loss.max() / loss.min()) or 1.0
        self.sizes = 10 + 90 * np.log(loss / loss.min()) / span
        self.segments = np.stack([coords[:-1], coords[1:]], 1)
        self.line = LineCollection([], cmap="plasma", norm=self.time, linewidths=2.2, animated=True, zorder=3)
        self.line.set_array(epoch[1:])
        ax.add_collection(self.line)
        self.dots = ax.scatter(coords[:, 0], coords[:, 1], c=epoch, s=self.sizes, cmap="plasma", norm=self.time,
                               edgecolors=style.bg, linewidths=0.6, animated=True, zorder=4)
        (self.head,) = ax.plot([], [], "o", markersize=13, markerfacecolor="none", markeredgewidth=2.2,
                               color=style.fg, animated=True, zorder=5)
        ax.plot(0, 0, "*", markersize=15, color=style.fg, markeredgecolor=style.bg, zorder=2, label="final weights")
        self.epoch = epoch

    def update(self, i: int) -> None:
        self.line.set_segments(self.segments[:i])
        self.line.set_array(self.epoch[1:i + 1])
        self.dots.set_offsets(self.coords[:i + 1])
        self.dots.set_array(self.epoch[:i + 1])
        self.dots.set_sizes(self.sizes[:i + 1])
        self.head.set_data(self.coords[i:i + 1, 0], self.coords[i:i + 1, 1])


def limits(ax, coords: np.ndarray, pad: float = 0.08) -> None:
    """Fixed axes around every point of the path, whatever the frame."""
    lo, hi = coords.min(0), coords.max(0)
    margin = pad * np.maximum(hi - lo, 1e-3 * (hi - lo).max() + 1e-12)
    ax.set_xlim(lo[0] - margin[0], hi[0] + margin[0])
    ax.set_ylim(lo[1] - margin[1], hi[1] + margin[1])


def loss_panel(ax, a: dict, style: Style):
    """Loss (train and held-out) at every snapshot against time, and the current snapshot's dot."""
    ax.plot(a["epoch"], a["loss"], color=style.colors[0], label="train", linewidth=1.8)
    ax.plot(a["epoch"], a["test_loss"], color=style.colors[1], label="held-out", linewidth=1.8, linestyle="--")
    both = np.concatenate([a["loss"], a["test_loss"]])
    if both.min() > 0 and both.max() / both.min() > 20:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss at the snapshot")
    ax.yaxis.set_label_position("right")  # away from the map's colour bar
    ax.yaxis.tick_right()
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    (cursor,) = ax.plot([], [], "o", color=style.fg, markersize=7, animated=True)
    return cursor


def heading(run: Run, words: str) -> str:
    """A frame's title: the experiment's own on the first line, the frame's on the second (fits slides)."""
    return f"{run.config.title or run.config.name}\n{words}"


def snapshot_label(a: dict, i: int) -> str:
    """Which snapshot frame i shows: its epoch."""
    return f"epoch {a['epoch'][i]:.2f}"


def snapshot_words(a: dict, i: int) -> str:
    return f"{snapshot_label(a, i)} (step {a['step'][i]}), training loss {a['loss'][i]:.3g}"


@figure("trajectory_map", title="Trajectory map", requires=("landscape",), caption="""
    Where the weights travel. Each weight snapshot θ<sub>i</sub> is drawn as its difference from the final
    weights θ<sub>final</sub> (the star, at the origin), projected on the two principal directions of those
    differences (PCA, Li et al. 2018 §7; each axis says how much of their variance it keeps; drawn with
    <code>projection="random"</code>, on two random directions; with <code>"mds"</code>, placed so that
    distances between snapshots are kept as well as two dimensions allow). The path grows
    frame by frame and is coloured by time in epochs; a dot's size is the training loss at that snapshot
    (larger is higher), also plotted against time on the right. Underneath (PCA only, when the run computed it), the
    training loss over that plane, log-spaced contours: the path's own losses are measured at the snapshots,
    which lie only near the plane. Snapshots are dense in the first epoch, where a preparatory phase may show as a detour.""")
class TrajectoryMap:
    def __init__(self, run_path: str, style: Style, projection: Literal["pca", "random", "mds"] = "pca",
                 contours: bool = True):
        self.run = Run(run_path)
        a = self.a = arrays(self.run, "trajectory_map", projection)
        coords = a[projection]
        self.n_frames = len(coords)
        self.fig, (ax, side) = style.figure(ncols=2, gridspec_kw={"width_ratios": (1.7, 1)})
        if contours and projection == "pca" and "pca_plane_loss" in a:
            contour(ax, a["pca_a"], a["pca_b"], a["pca_plane_loss"], loss_norm(a["pca_plane_loss"]), style)
            limits(ax, np.stack([a["pca_a"][[0, -1]], a["pca_b"][[0, -1]]], 1), pad=0)
        else:
            limits(ax, coords)
            ax.grid(True, alpha=0.3)
        self.path = GrowingPath(ax, coords, a["epoch"], a["loss"], style)
        self.fig.colorbar(self.path.dots, ax=ax, label="epoch", pad=0.01, fraction=0.05)
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(5))  # long tick labels of a random projection
        ax.set_xlabel(axis_labels(a, projection)[0])
        ax.set_ylabel(axis_labels(a, projection)[1])
        self.cursor = loss_panel(side, a, style)
        self.title = self.fig.suptitle(" ", x=0.01, ha="left", animated=True)

    def label(self, i: int) -> str:
        return snapshot_label(self.a, i)

    def update(self, i: int) -> None:
        a = self.a
        self.path.update(i)
        self.cursor.set_data([a["epoch"][i]], [a["loss"][i]])
        self.title.set_text(heading(self.run, snapshot_words(a, i)))
