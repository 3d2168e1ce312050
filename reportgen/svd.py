"""Truncated-SVD image compression (Eckart–Young errors, storage) and singular-value spectra of weights."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

import matplotlib.cbook
import numpy as np
from PIL import Image, UnidentifiedImageError

if TYPE_CHECKING:   # torch loads where weights are read, not where a declaration names an image mode
    import torch

MODES = ("gray", "channels", "stacked")
# ITU-R BT.601 luma weights, the ones PIL's convert("L") uses
LUMA = np.array([0.299, 0.587, 0.114])


def sample_image() -> Path:
    """Grace Hopper's portrait (512×600 JPEG) that ships inside matplotlib: no download needed."""
    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def load_image(path: str | Path | None = None) -> np.ndarray:
    """An image file as float64 in [0, 1]: [H, W] when grayscale, [H, W, 3] otherwise (alpha dropped)."""
    path = sample_image() if path is None else Path(path)
    try:
        with Image.open(path) as image:
            gray = image.mode in ("1", "L", "LA")
            return np.asarray(image.convert("L" if gray else "RGB"), dtype=np.float64) / 255.0
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError) as err:  # OSError: a truncated or corrupt image body
        raise ValueError(f"{path} is not an image that can be read (PNG, JPEG, ...): {err}") from None


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

    @property
    def errors(self) -> np.ndarray:
        """[k + 1]: ||A - A_r||_F / ||A||_F for r = 0..k from the singular values alone (Eckart–Young)."""
        # summed from the smallest up, so the tail of a fast-decaying spectrum keeps its digits
        tail = np.append(np.cumsum((self.s**2).sum(0)[::-1])[::-1], 0.0)
        return np.sqrt(tail / tail[0])

    @property
    def storage(self) -> np.ndarray:
        """[k + 1]: numbers kept at rank r, r(m+n+1) per matrix, over the m·n per matrix (C cancels for "channels")."""
        m, n = self.u.shape[1], self.vt.shape[2]
        return np.arange(self.k + 1) * (m + n + 1) / (m * n)

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


def _matrices(image: np.ndarray, mode: str) -> np.ndarray:
    """The matrices that mode compresses, [C, m, n]."""
    planes = image[..., None] if image.ndim == 2 else image  # [H, W, C]
    if mode == "gray":
        return (planes @ LUMA if planes.shape[2] == 3 else planes[..., 0])[None]
    if mode == "channels":
        return planes.transpose(2, 0, 1)
    return planes.transpose(0, 2, 1).reshape(1, planes.shape[0], -1)  # channels side by side: [R | G | B]


def compress(image: np.ndarray, ranks: Sequence[int] | None = None, mode: str = "gray") -> Compression:
    """SVD the image once in the given mode; ranks default to default_ranks(k)."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    u, s, vt = np.linalg.svd(_matrices(np.asarray(image, dtype=np.float64), mode), full_matrices=False)
    shape = image.shape[:2] if mode == "gray" else image.shape
    return Compression(mode, shape, list(default_ranks(s.shape[-1]) if ranks is None else ranks), u, s, vt)


def default_ranks(k: int, frames: int = 50, head: int = 20) -> list[int]:
    """Every rank up to `head` (where the picture changes most), then geometric steps ending at k: ~`frames` ranks."""
    coarse = np.geomspace(head, k, frames - head + 1).round().astype(int).tolist() if k > head else []
    return sorted(set(range(1, min(k, head) + 1)) | set(coarse))


def spectra(weights: torch.nn.Module | dict[str, torch.Tensor | np.ndarray]) -> dict[str, np.ndarray]:
    """Singular values, largest first, of every weight with 2+ dims (a conv kernel as [out, in·kh·kw]).

    numpy, not torch: figures call this in forked render workers, where torch's OpenMP pool can hang."""
    import torch
    tensors = weights.state_dict() if isinstance(weights, torch.nn.Module) else weights
    arrays = {n: w.detach().cpu().numpy() if isinstance(w, torch.Tensor) else np.asarray(w) for n, w in tensors.items()}
    return {name: np.linalg.svd(w.reshape(len(w), -1).astype(np.float64), compute_uv=False)
            for name, w in arrays.items() if w.ndim >= 2}
