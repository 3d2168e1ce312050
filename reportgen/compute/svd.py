"""Truncated-SVD image compression: an image's factors, with the Eckart–Young error and the storage of every rank."""
from __future__ import annotations

from pathlib import Path

import matplotlib.cbook
import numpy as np
from PIL import Image, UnidentifiedImageError

from ..declare.demos import MODES
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


def _matrices(image: np.ndarray, mode: str) -> np.ndarray:
    """The matrices that mode compresses, [C, m, n]."""
    planes = image[..., None] if image.ndim == 2 else image  # [H, W, C]
    if mode == "gray":
        return (planes @ LUMA if planes.shape[2] == 3 else planes[..., 0])[None]
    if mode == "channels":
        return planes.transpose(2, 0, 1)
    return planes.transpose(0, 2, 1).reshape(1, planes.shape[0], -1)  # channels side by side: [R | G | B]


def compress(image: np.ndarray, mode: str = "gray") -> dict[str, np.ndarray]:
    """SVD the image once in the given mode: one SVD per matrix (u [C, m, k], s [C, k], vt [C, k, n]; C = 1
    unless mode "channels"), the reconstruction's shape ([H, W] for "gray", the image's own otherwise), and
    per rank r = 0..k: errors, ||A - A_r||_F / ||A||_F from the singular values alone (Eckart–Young), and
    storage, the r(m+n+1) numbers kept per matrix over its m·n (C cancels for "channels")."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    u, s, vt = np.linalg.svd(_matrices(np.asarray(image, dtype=np.float64), mode), full_matrices=False)
    # summed from the smallest up, so the tail of a fast-decaying spectrum keeps its digits
    tail = np.append(np.cumsum((s**2).sum(0)[::-1])[::-1], 0.0)
    m, n, k = u.shape[1], vt.shape[2], s.shape[-1]
    return {"mode": mode, "shape": np.array(image.shape[:2] if mode == "gray" else image.shape), "u": u, "s": s,
            "vt": vt, "errors": np.sqrt(tail / tail[0]), "storage": np.arange(k + 1) * (m + n + 1) / (m * n)}
