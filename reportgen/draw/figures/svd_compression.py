"""An image rebuilt from its truncated SVD, rank by rank, beside the error and the storage that rank costs."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ...store.rundir import Run
from ..style import Style
from . import figure

# levels per channel: the GIF's 255 colours show no more (64 grays fit beside the plot's colours exactly),
# and few distinct colours keep its encoder fast
LEVELS = {"gray": 64, "channels": 32, "stacked": 32}
HOW = {"gray": "grayscale: one matrix", "channels": "one SVD per colour channel",
       "stacked": "R | G | B side by side as one matrix"}


@dataclass
class Compression:
    """One SVD per matrix (u [C, m, k], s [C, k], vt [C, k, n]) read out at any rank; C = 1 unless mode "channels"."""

    mode: str
    shape: tuple[int, ...]  # the reconstruction's shape: [H, W] for "gray", the image's own otherwise
    ranks: list[int]  # the ranks that frames() walks through
    u: np.ndarray
    s: np.ndarray
    vt: np.ndarray

    @property
    def k(self) -> int:
        return self.s.shape[-1]

    def reconstruct(self, r: int) -> np.ndarray:
        """The rank-r approximation in the image's layout; not clipped, so its error is exactly errors[r]."""
        low = (self.u[:, :, :r] * self.s[:, None, :r]) @ self.vt[:, :r]
        if self.mode == "stacked":  # [1, H, C·W] back to [H, W, C]
            height, channels = self.shape[0], low.shape[2] // self.shape[1]
            return low[0].reshape(height, channels, -1).transpose(0, 2, 1).reshape(self.shape)
        return low.transpose(1, 2, 0).reshape(self.shape)

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """(rank, reconstruction) for each of self.ranks, one at a time: only one image is held in memory."""
        for r in self.ranks:
            yield r, self.reconstruct(r)


def default_ranks(k: int, frames: int = 50, head: int = 20) -> list[int]:
    """Every rank up to `head` (where the picture changes most), then geometric steps ending at k: ~`frames` ranks."""
    coarse = np.geomspace(head, k, frames - head + 1).round().astype(int).tolist() if k > head else []
    return sorted(set(range(1, min(k, head) + 1)) | set(coarse))


def compression(a: dict[str, np.ndarray]) -> Compression:
    """A run's stored SVD, read out at the ranks the frames walk through."""
    return Compression(str(a["mode"]), tuple(a["shape"]), default_ranks(a["s"].shape[-1]), a["u"], a["s"], a["vt"])


@figure("svd_compression", title="SVD compression", caption="""
    Left: the image rebuilt from its r largest singular values,
    A<sub>r</sub>&nbsp;=&nbsp;Σ<sub>i≤r</sub>&nbsp;σ<sub>i</sub>u<sub>i</sub>v<sub>i</sub><sup>T</sup>; the frames
    step through every rank up to 20, then coarser, ending at full rank, which is the image itself. Right,
    against r on log axes: the relative error
    ‖A&nbsp;−&nbsp;A<sub>r</sub>‖<sub>F</sub>&nbsp;/&nbsp;‖A‖<sub>F</sub>, which by Eckart–Young is the smallest
    any rank-r matrix can reach, and the storage r(m&nbsp;+&nbsp;n&nbsp;+&nbsp;1) as a fraction of the m·n
    pixels; where it crosses 1 the factors take more room than the image.""")
class SVDCompressionFigure:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        a = run.arrays()
        self.c = compression(a)
        self.errors, self.storage = a["errors"], a["storage"]
        self.n_frames = len(self.c.ranks)
        self.fig, (self.ax, plot) = style.figure(ncols=2, gridspec_kw={"width_ratios": (1, 1.15)})
        self.ax.set_axis_off()
        gray = self.c.mode == "gray"
        self.image = self.ax.imshow(self.picture(self.c.ranks[0]), cmap="gray" if gray else None, vmin=0, vmax=1,
                                    interpolation="nearest", animated=True)
        self.rank = self.ax.set_title(" ", fontsize="large")
        self.rank.set_animated(True)
        self.fig.suptitle(run.config.title or run.config.name)
        self.ax.text(0.5, -0.02, HOW[self.c.mode], transform=self.ax.transAxes, ha="center", va="top",
                     fontsize="small")
        self._plot(plot, style)

    def _plot(self, ax, style: Style):
        k, r = self.c.k, np.arange(self.c.k + 1)
        ax.plot(r[1:k], self.errors[1:k], color=style.colors[0], linewidth=2, label="relative error")
        ax.plot(r[1:], self.storage[1:], color=style.colors[1], linewidth=2, label="storage / pixels")
        ax.axhline(1, color=style.fg, linewidth=0.8, linestyle=":")
        ax.text(1.2, 1.15, "as many numbers as pixels", fontsize="small", va="bottom")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(1, k * 1.1)
        ax.set_ylim(min(self.errors[1:k].min(), self.storage[1]) / 2, max(2.0, self.storage[-1] * 1.5))
        ax.set_xlabel("rank r")
        ax.set_ylabel("fraction")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="lower left")
        self.cursor = ax.axvline(1, color=style.fg, linewidth=1.2, animated=True)
        (self.dots,) = ax.plot([], [], "o", color=style.fg, markersize=6, animated=True)
        self.words = ax.set_title(" ", loc="left", fontsize="medium")
        self.words.set_animated(True)

    def picture(self, r: int) -> np.ndarray:
        top = LEVELS[self.c.mode] - 1
        return np.round(self.c.reconstruct(r).clip(0, 1) * top) / top

    def label(self, i: int) -> str:
        return f"rank {self.c.ranks[i]}"

    def update(self, i: int) -> None:
        r = self.c.ranks[i]
        self.image.set_data(self.picture(r))
        self.rank.set_text(f"rank {r} of {self.c.k}")
        self.cursor.set_xdata([r, r])
        exact = r == self.c.k
        self.dots.set_data([r] * (1 if exact else 2), [self.storage[r]] + ([] if exact else [self.errors[r]]))
        error = "0 (exact)" if exact else f"{100 * self.errors[r]:.1f} %"
        storage = 100 * self.storage[r]
        self.words.set_text(f"error {error}, storage {storage:.{'2g' if storage < 10 else '0f'}} % of the pixels")
