"""The landscape engine's cache of finished points: one file per grid, so that an interrupted grid resumes,
and the parts of a grid computed elsewhere (cluster units, `part=(k, n)`), merged when the grid is loaded."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from ..store.io import RunError, read_npz


def fingerprint(tensors, *extra):
    """Hash of everything that fixes the grid's values except the model's code and loss_fn."""
    h = hashlib.blake2b(repr(extra).encode(), digest_size=16)
    for t in tensors:
        h.update(t.detach().reshape(-1).cpu().contiguous().view(torch.uint8).numpy())
    return h.hexdigest()


def part_cache(cache: Path, part: tuple[int, int]) -> Path:
    """Where part k of n of the grid cached at `cache` keeps its points (merged into the grid when loaded)."""
    k, n = part
    if not 0 <= k < n:
        raise ValueError(f"part: ({k}, {n}) is not part k of n with 0 <= k < n")
    return cache.with_name(f"{cache.stem}.part-{k}-of-{n}.npz")


def parts(cache: Path) -> list[Path]:
    return sorted(cache.parent.glob(f"{cache.stem}.part-*-of-*.npz"))


def load(cache, key, m):
    """(loss, accuracy, done) from ``cache`` when it holds this computation, with the points its parts
    computed elsewhere merged in (parts of other inputs are ignored); else empty arrays (also when a file
    was damaged: it is only a cache, the points are computed again)."""
    loss, acc, done = np.full(m, np.nan), np.full(m, np.nan), np.zeros(m, bool)
    if cache is None:
        return loss, acc, done
    for i, path in enumerate([cache, *(() if ".part-" in cache.name else parts(cache))]):
        try:
            f = read_npz(path) if path.exists() else {}
        except RunError:
            f = {}
        if not {"key", "loss", "accuracy", "done"} <= f.keys() or f["done"].shape != (m,):
            continue
        if str(f["key"]) != key:
            if i == 0:
                raise ValueError(f"{cache} holds another grid (other inputs); delete it or pick another path")
            continue
        new = f["done"] & ~done
        loss[new], acc[new], done[new] = f["loss"][new], f["accuracy"][new], True
    return loss, acc, done
