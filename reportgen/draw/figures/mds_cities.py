"""Europe's million-cities mapped from their distances alone: gradient descent against Nelder–Mead, frame by frame."""
from __future__ import annotations

import numpy as np
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_rgba
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextPath
from matplotlib.transforms import Affine2D

from ..style import Style
from ...store.rundir import Run
from . import figure

TRAIL = 8  # snapshots of each city's path drawn behind it, fading
METHODS = (("gd", "gradient descent"), ("nm", "Nelder–Mead"))


@figure("mds_cities", title="MDS of European cities", caption="""
    Each method sees only the great-circle distances D<sub>mn</sub> between the cities and moves their
    points on a plane to minimise the stress Σ(D<sub>mn</sub>&nbsp;−&nbsp;d<sub>mn</sub>(X))². Both maps are
    rotated, reflected and scaled onto the true one (Procrustes), whose cities are the grey rings, so a
    recovered map looks like Europe; each city fades a trail of its last moves. Below: the stress against the
    number of function evaluations, log scale; gradient descent's evaluation also computes the gradient
    (by autograd, about three times the cost of one stress), Nelder–Mead's does not. The more cities, the
    wider the gap.""")
class MDSCities:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        a = run.arrays()
        self.a, self.names = a, [str(n) for n in a["names"]]
        self.n_frames = len(a["gd_snapshot_evals"])
        # the two maps side by side (Europe is wider than tall), the losses in a strip across the bottom
        self.fig, axes = style.figure(nrows=2, ncols=2, gridspec_kw={"height_ratios": (2.6, 1)})
        grid = axes[1, 0].get_gridspec()
        for ax in axes[1]:
            ax.remove()
        self.fig.suptitle(run.config.title or run.config.name)
        self.maps = [self._map(ax, key, name, color, style)
                     for ax, (key, name), color in zip(axes[0], METHODS, style.colors)]
        self._losses(self.fig.add_subplot(grid[1, :]), style)

    def _map(self, ax, key: str, name: str, color: str, style: Style) -> dict:
        truth = self.a["truth"]
        ax.scatter(*truth.T, s=28, facecolors="none", edgecolors="#999999", linewidths=1)
        low, high = truth.min(0), truth.max(0)
        pad = 0.12 * (high - low).max()
        ax.set_xlim(low[0] - pad, high[0] + pad)
        ax.set_ylim(low[1] - pad, high[1] + pad)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        title = ax.set_title(" ", color=color, loc="left", fontsize="medium")
        title.set_animated(True)
        return {"key": key, "name": name, "title": title, "rgba": np.array(to_rgba(color)),
                "trail": ax.add_collection(LineCollection([], linewidths=1.2, animated=True)),
                "dots": ax.scatter(*truth.T, s=16, color=color, zorder=3, animated=True),
                "labels": ax.add_collection(self._labels(ax, style))}

    def _labels(self, ax, style: Style) -> PathCollection:
        """The city names as glyph outlines offset from their points: moving them is one cheap collection
        instead of a text layout per name and frame (which took most of a frame's time)."""
        size = FontProperties(size="x-small" if len(self.names) > 15 else "small").get_size_in_points()
        truth = self.a["truth"]
        east = truth[:, 0] > truth[:, 0].mean()  # labelled on their left, so no name runs off the map
        paths = []
        for name, left in zip(self.names, east):
            width = TextPath((0, 0), name, size=size).get_extents().width
            paths.append(TextPath((-width - size / 3 if left else size / 3, size / 4), name, size=size))
        return PathCollection(paths, offsets=truth, offset_transform=ax.transData, facecolors=style.fg,
                              edgecolors="none", transform=Affine2D().scale(self.fig.dpi / 72), animated=True)

    def _losses(self, ax, style: Style) -> None:
        a = self.a
        budget = len(a["gd_losses"])
        self.curves = []
        for (key, _), color in zip(METHODS, style.colors):
            (curve,) = ax.plot([], [], color=color, linewidth=2, animated=True)
            self.curves.append((curve, a[f"{key}_losses"]))
        both = np.concatenate([a["gd_losses"], a["nm_losses"]])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(both.min() / 2, both.max() * 2)
        ax.set_xlim(1, budget)
        ax.set_xlabel("function evaluations (colours as the maps' titles)")
        ax.set_ylabel("stress [km²]")
        ax.grid(True, alpha=0.3)
        self.cursor = ax.axvline(1, color=style.fg, linewidth=1, animated=True)

    def label(self, i: int) -> str:
        return f"evaluation {self.a['gd_snapshot_evals'][i]}"

    def update(self, i: int) -> None:
        a = self.a
        for m in self.maps:
            snaps = a[f"{m['key']}_snapshots"][max(0, i - TRAIL):i + 1]  # [T, n, 2], oldest first
            now = snaps[-1]
            # segments [T - 1 per city], alpha rising from the oldest to the newest
            segments = np.stack([snaps[:-1], snaps[1:]], 2).transpose(1, 0, 2, 3).reshape(-1, 2, 2)
            alpha = np.tile(np.linspace(0.1, 0.8, len(snaps) - 1), len(self.names)) if len(snaps) > 1 else []
            m["trail"].set_segments(segments)
            m["trail"].set_color([(*m["rgba"][:3], t) for t in alpha])
            m["dots"].set_offsets(now)
            m["labels"].set_offsets(now)
        evals = a["gd_snapshot_evals"][i]
        for m in self.maps:
            m["title"].set_text(f"{m['name']}: stress {a[m['key'] + '_losses'][evals - 1]:.3g} km²")
        for curve, losses in self.curves:
            curve.set_data(np.arange(1, evals + 1), losses[:evals])
        self.cursor.set_xdata([evals, evals])
