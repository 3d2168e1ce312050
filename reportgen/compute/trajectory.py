"""Weight trajectories: flat float32 snapshots on disk and their 2-D projections (Li et al. 2018, §7).

Every projection streams the snapshots through one float64 buffer of ``budget`` bytes (T rows, a
block of columns), so the memory it allocates is O(T² + budget) for T snapshots whatever the
model's size N, plus the two [N] float32 directions PCA returns. The memory maps only borrow the
page cache, which the system can take back.
"""
from typing import NamedTuple

import numpy as np

from ..store.io import RunError, read_npy


class Projection(NamedTuple):
    """coords [T, 2] with the final snapshot at the origin; explained [2], the share of the variance
    of each axis (None for a random projection); directions [2, N] float32 unit vectors (PCA only)."""

    coords: np.ndarray
    explained: np.ndarray | None
    directions: np.ndarray | None


def open_snapshots(paths):
    """The snapshots (flat float32 .npy files, as Run.write_snapshot makes them) as read-only memory
    maps, or RunError naming the first that is missing, truncated or not like the first."""
    snaps = [read_npy(path, mmap=True) for path in paths]
    for path, s in zip(paths, snaps):
        if s.dtype != np.float32 or s.ndim != 1 or s.shape != snaps[0].shape:
            raise RunError(f"{path}: {s.dtype} {s.shape}, expected flat float32 {snaps[0].shape}")
    return snaps


def _gram(snaps, budget):
    """G[i, j] = <θ_i − θ_final, θ_j − θ_final> in float64, the last snapshot being θ_final."""
    g = np.zeros((len(snaps), len(snaps)))
    for _, a in _blocks(snaps, budget):
        g += a @ a.T
    return g


def pca(paths, budget=2**26):
    """Li et al.'s PCA: principal directions of the differences θ_i − θ_final (final excluded, centred
    as their code's sklearn PCA does); every snapshot's coordinates are its difference projected
    on them, so θ_final is the origin. Needs at least 4 snapshots."""
    if len(paths) < 4:
        raise ValueError(f"PCA of a trajectory needs at least 4 snapshots, got {len(paths)}")
    snaps = open_snapshots(paths)
    g = _gram(snaps, budget)
    m = len(g) - 1
    vals, vecs, explained = _top2(_centred(g[:m, :m]))
    # direction k is Aᵀv_k / sqrt(λ_k) for the difference rows A; an axis without variance stays zero
    w = np.divide(vecs, np.sqrt(vals), out=np.zeros_like(vecs), where=vals > 1e-12 * vals[0])
    coords = g[:, :m] @ w
    signs = _signs(coords)
    w *= signs
    directions = np.zeros((2, len(snaps[0])), np.float32)
    for cols, a in _blocks(snaps, budget):
        directions[:, cols] = w.T @ a[:m]
    return Projection(coords * signs, explained, directions)


def mds(paths, budget=2**26):
    """Classical MDS: the 2-D layout whose pairwise distances best keep those between snapshots,
    from the doubly centred Gram matrix; explained is each axis's share of its trace."""
    vals, vecs, explained = _top2(_centred(_gram(open_snapshots(paths), budget)))
    coords = vecs * np.sqrt(np.maximum(vals, 0))
    coords = coords - coords[-1]
    return Projection(coords * _signs(coords), explained, None)


def joint_pca(paths, budget=2**26) -> tuple[Projection, np.ndarray]:
    """PCA of the snapshots of several runs together (`paths`: all of them): the two principal directions of
    the snapshots about their mean, every snapshot's coordinates along them (the mean at the origin), and the
    mean itself [N] float32: the plane's centre. Coordinates are those of classical MDS, which for Euclidean
    distances is this PCA; the directions are streamed from the snapshots as in `pca`."""
    snaps = open_snapshots(paths)
    vals, vecs, explained = _top2(_centred(_gram(snaps, budget)))
    # direction k is Ãᵀv_k / sqrt(λ_k) for the centred rows Ã = JA; v_k ⊥ 1, so vᵀÃ = vᵀA (A: differences)
    w = np.divide(vecs, np.sqrt(vals), out=np.zeros_like(vecs), where=vals > 1e-12 * max(vals[0], 1e-300))
    coords = vecs * np.sqrt(np.maximum(vals, 0))
    signs = _signs(coords)
    w *= signs
    directions, mean = np.zeros((2, len(snaps[0])), np.float32), np.zeros(len(snaps[0]), np.float32)
    for cols, a in _blocks(snaps, budget):
        directions[:, cols] = w.T @ a
        mean[cols] = snaps[-1][cols] + a.mean(0)
    return Projection(coords * signs, explained, directions), mean


def random_projection(paths, seed=0, budget=2**26):
    """Coordinates along two seeded Gaussian directions of unit norm, drawn block by block: a
    sequential numpy stream, so the same seed gives the same directions for any budget."""
    rng = np.random.default_rng(seed)
    snaps = open_snapshots(paths)
    dots, sq = np.zeros((len(snaps), 2)), np.zeros(2)
    for _, a in _blocks(snaps, budget):
        r = rng.standard_normal((a.shape[1], 2))
        dots += a @ r
        sq += (r * r).sum(0)
    return Projection(dots / np.sqrt(sq), None, None)


def _blocks(snaps, budget):
    """(columns, differences θ_i − θ_final on them as float64 [T, block]) with T·block·8 <= budget;
    one buffer serves every block, so use each before asking for the next."""
    n, step = snaps[0].shape[0], max(1, budget // (8 * len(snaps)))
    buf = np.empty((len(snaps), min(n, step)))
    for start in range(0, n, step):
        cols = slice(start, min(n, start + step))
        a = buf[:, :cols.stop - start]
        for row, s in zip(a, snaps):
            row[:] = s[cols]
        a -= a[-1].copy()  # a copy, or numpy buffers the whole block to resolve the overlap
        yield cols, a


def _centred(g):
    """J G J with J = I − 11ᵀ/T: the Gram matrix of the rows after subtracting their mean."""
    j = np.eye(len(g)) - 1.0 / len(g)
    return j @ g @ j


def _top2(b):
    """The two largest eigenvalues of symmetric b, their eigenvectors [T, 2], and their shares of
    the trace (the explained-variance ratios; zero when there is no variance at all)."""
    vals, vecs = np.linalg.eigh(b)
    vals, vecs, total = vals[::-1][:2].copy(), vecs[:, ::-1][:, :2].copy(), np.trace(b)
    return vals, vecs, vals / total if total > 0 else np.zeros(2)


def _signs(coords):
    """Per axis, the sign that puts the first snapshot on the positive side (a fixed orientation)."""
    return np.where(coords[0] < 0, -1.0, 1.0)
