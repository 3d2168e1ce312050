"""A trained network's weight matrices cut to rank r by truncated SVD: what is kept, and what accuracy is left."""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from ...store.rundir import Run
from ..style import Style
from . import figure
from .svd_compression import default_ranks


@figure("layer_compression", title="Layers compressed by truncated SVD", requires=("accuracy_all",), caption="""
    The trained network's weight matrices replaced by their best rank-r approximations
    (Σ<sub>i≤r</sub>&nbsp;σ<sub>i</sub>u<sub>i</sub>v<sub>i</sub><sup>T</sup>), r growing frame by frame. Left:
    each layer's singular values relative to its largest, coloured from the input layer (dark) to the output
    (yellow); everything right of the cursor is dropped. Right: the test accuracy against the kept rank,
    truncating one layer at a time (thin, same colours) or every layer at once (thick), with the full network's
    accuracy dashed. The left title counts the weights kept when every layer is truncated: r(m&nbsp;+&nbsp;n)
    numbers stand for an m×n matrix.""")
class LayerCompressionFigure:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        a = run.arrays()
        self.a = a
        k = a["spectra"].shape[1]
        self.ranks = default_ranks(k, frames=40, head=12)
        self.n_frames = len(self.ranks)
        m, n = a["shapes"].T
        kept = np.minimum(np.arange(k + 1)[:, None], np.minimum(m, n)[None]) * (m + n)
        self.kept = np.minimum(kept.sum(1) / (m * n).sum(), 1.0)  # past mn/(m+n), the full matrix is stored
        self.fig, (spectra, acc) = style.figure(ncols=2)
        self.fig.suptitle(run.config.title or run.config.name)
        colors = colormaps["viridis"](np.linspace(0, 0.9, len(a["names"])))
        index = np.arange(1, k + 1)
        for s, c in zip(a["spectra"], colors):
            spectra.plot(index, s / s[0], color=c, linewidth=1.5)
        spectra.set_yscale("log")
        spectra.set_xlim(0.5, k + 0.5)
        spectra.set_xlabel("index i (largest first)")
        spectra.set_ylabel("σᵢ / σ₁")
        spectra.grid(True, alpha=0.3)
        self.k = k
        self.dropped = spectra.axvspan(0.5, k + 0.5, color=style.fg, alpha=0.12, linewidth=0, animated=True)
        self.cut = spectra.axvline(1, color=style.fg, linewidth=1.2, animated=True)  # between index r and r + 1
        self._accuracy(acc, k, colors, style)
        self.labels = [ax.set_title(" ", loc="left", fontsize="medium") for ax in (spectra, acc)]
        for label in self.labels:
            label.set_animated(True)

    def _accuracy(self, ax, k: int, colors, style: Style) -> None:
        a, r = self.a, np.arange(k + 1)
        for accuracy, c in zip(a["accuracy"], colors):
            ax.plot(r, 100 * accuracy, color=c, linewidth=1, alpha=0.8)
        ax.plot(r, 100 * a["accuracy_all"], color=style.fg, linewidth=2.5, label="every layer at rank r")
        ax.axhline(100 * a["accuracy_full"], color=style.fg, linestyle="--", linewidth=1, label="full rank")
        ax.set_xlim(0, k)
        ax.set_ylim(0, 100)
        ax.set_xlabel("kept rank r")
        ax.set_ylabel("test accuracy [%]")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
        self.cursor = ax.axvline(1, color=style.fg, linewidth=1.2, animated=True)
        (self.dot,) = ax.plot([], [], "o", color=style.colors[1], markersize=8, markeredgecolor=style.bg, animated=True)

    def label(self, i: int) -> str:
        return f"rank {self.ranks[i]}"

    def update(self, i: int) -> None:
        r = self.ranks[i]
        self.cut.set_xdata([r + 0.5] * 2)
        self.cursor.set_xdata([r, r])
        self.dropped.set_x(r + 0.5)
        self.dropped.set_width(self.k - r)
        accuracy = self.a["accuracy_all"][r]
        self.dot.set_data([r], [100 * accuracy])
        self.labels[0].set_text(f"rank {r}: {100 * self.kept[r]:.0f} % of the weights kept")
        self.labels[1].set_text(f"test accuracy {100 * accuracy:.1f} %")
