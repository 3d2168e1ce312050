"""The loss over a plane through the weights: a contour map and a 3-D surface, around every epoch's weights,
or over the trajectory's PCA plane with the path moving across it."""
from __future__ import annotations

from typing import Literal

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.ticker import MaxNLocator

from ..style import Style
from ...store.rundir import Run
from . import figure
from .loss_line import NORMALISED, centers
from .trajectory_map import (CMAP, GrowingPath, arrays, axis_labels, contour, heading, loss_norm, snapshot_label,
                             snapshot_words)



@figure("loss_plane", title="Loss plane", requires=("landscape",), caption="""
    The training loss L(θ + α·d₁ + β·d₂) over a plane through the weights θ, as a contour map (left,
    log-spaced levels, dark is low) and as a surface (right, heights clipped at the top of the colour scale).
    d₁ and d₂ are random Gaussian directions, drawn once and normalised to each θ's own weights, per filter
    unless the axis says otherwise (Li et al. 2018), so planes of different epochs compare: one frame per
    centre θ (the star), the last around the final weights. Same colours and heights in every frame, so a basin
    that deepens and narrows is the landscape sharpening. Evaluation is in eval mode: dropout off, batch norm
    with its running statistics. Drawn with <code>plane="pca"</code>: the plane of the trajectory's two
    principal directions instead, with the path (coloured by epoch, dot size the loss) moving over it.""")
class LossPlane:
    def __init__(self, run_path: str, style: Style, plane: Literal["random", "pca"] = "random", surface: bool = True):
        self.run, self.style, self.pca = Run(run_path), style, plane == "pca"
        a = self.a = arrays(self.run, "loss_plane", "pca_plane_loss" if self.pca else "plane_loss")
        self.fig, axes = style.figure(ncols=2 if surface else 1, **({"width_ratios": (1, 1.2)} if surface else {}))
        self.ax = axes[0] if surface else axes
        self.ax3 = None
        if surface:
            axes[1].remove()
            self.ax3 = self.fig.add_subplot(1, 2, 2, projection="3d", computed_zorder=False)
        if self.pca:
            self._pca(a)
        else:
            self._random(a)
        self.title = self.fig.suptitle(" ", x=0.01, ha="left", animated=True)

    def _random(self, a: dict) -> None:
        self.x = self.y = a["plane_a"]
        self.norm = loss_norm(a["plane_loss"])
        self.words, self.n_frames = centers(a), len(a["center_step"])
        self.drawn, self.shown = self._draw(a["plane_loss"][0]), 0
        self._colorbar(self.drawn[0])
        self.ax.plot(0, 0, "*", markersize=15, color=self.style.fg, markeredgecolor=self.style.bg, zorder=5)
        self._labels(f"α along d₁ ({NORMALISED[str(a['directions'])]})", "β along d₂")

    def _pca(self, a: dict) -> None:
        self.x, self.y = a["pca_a"], a["pca_b"]
        self.norm = loss_norm(a["pca_plane_loss"])
        self.n_frames = len(a["pca"])
        self._colorbar(self._draw(a["pca_plane_loss"])[0])
        self.path = GrowingPath(self.ax, a["pca"], a["epoch"], a["loss"], self.style)
        self._labels(*(label.replace(" of variance", "") for label in axis_labels(a, "pca")))
        if self.ax3 is not None:  # the path at the loss measured at each snapshot (which lies near the plane)
            self.height = np.minimum(a["loss"], self.norm.vmax)
            (self.line3,) = self.ax3.plot([], [], [], color=self.style.fg, linewidth=2, animated=True)
            (self.head3,) = self.ax3.plot([], [], [], "o", color=self.style.colors[1], markersize=7,
                                          markeredgecolor=self.style.bg, animated=True)

    def _colorbar(self, filled) -> None:
        bar = self.fig.colorbar(filled, ax=self.ax, label="training loss", pad=0.02, fraction=0.05)
        bar.set_ticks(filled.levels[::2], labels=[f"{v:.3g}" for v in filled.levels[::2]])
        bar.minorticks_off()

    def _labels(self, x: str, y: str) -> None:
        self.ax.set_xlabel(x)
        self.ax.set_ylabel(y)
        self.ax.set_xlim(self.x[0], self.x[-1])
        self.ax.set_ylim(self.y[0], self.y[-1])
        if self.ax3 is not None:
            self.ax3.set_xlabel(x.split(" (")[0])
            self.ax3.set_ylabel(y.split(" (")[0])
            self.ax3.set_title("training loss as a surface", fontsize="medium")
            self.ax3.set_zlim(0, self.norm.vmax)
            self.ax3.tick_params(pad=0, labelsize="small")
            for axis in (self.ax3.xaxis, self.ax3.yaxis, self.ax3.zaxis):
                axis.set_major_locator(MaxNLocator(4))
            self.ax3.set_box_aspect(None, zoom=0.9)

    def _draw(self, z: np.ndarray) -> tuple:
        """The contour map and the surface of one plane (removed again by the next frame's)."""
        drawn = contour(self.ax, self.x, self.y, z, self.norm, self.style)
        if self.ax3 is not None:
            xx, yy = np.meshgrid(self.x, self.y)
            surface = self.ax3.plot_surface(xx, yy, np.minimum(z, self.norm.vmax), cmap=CMAP,
                                            norm=LogNorm(self.norm.vmin, self.norm.vmax),
                                            rstride=1, cstride=1, linewidth=0.15, edgecolor=self.style.fg,
                                            antialiased=True)
            drawn = (*drawn, surface)
        return drawn

    def label(self, i: int) -> str:
        a = self.a
        return snapshot_label(a, i) if self.pca else \
            f"weights of epoch {np.interp(a['center_step'][i], a['step'], a['epoch']):g}"

    def update(self, i: int) -> None:
        a = self.a
        if self.pca:
            self.path.update(i)
            if self.ax3 is not None:
                xy = a["pca"][:i + 1]
                self.line3.set_data_3d(xy[:, 0], xy[:, 1], self.height[:i + 1])
                self.head3.set_data_3d(xy[-1:, 0], xy[-1:, 1], self.height[i:i + 1])
            self.title.set_text(heading(self.run, snapshot_words(a, i)))
            return
        if i != self.shown:  # a new plane: its contours and surface replace the last ones
            for artist in self.drawn:
                artist.remove()
            self.drawn, self.shown = self._draw(a["plane_loss"][i]), i
        self.title.set_text(heading(self.run, self.words[i]))
