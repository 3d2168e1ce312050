"""Multidimensional scaling of Europe's million-cities: gradient descent against Nelder–Mead on the same stress."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.optimize
import torch

CITIES = Path(__file__).parent / "assets" / "cities.csv"
EARTH_RADIUS_KM = 6371.0088  # the IUGG mean radius


@dataclass
class Cities:
    """Columns of assets/cities.csv, most populous first."""

    name: list[str]
    country: list[str]
    lat: np.ndarray  # degrees north
    lon: np.ndarray  # degrees east
    population: np.ndarray


def load_cities(n: int | None = None) -> Cities:
    """The n most populous cities of the file (all 34 by default; the demo uses 6, 15 and 34)."""
    with CITIES.open(encoding="utf-8") as file:
        rows = sorted(csv.DictReader(line for line in file if not line.startswith("#")),
                      key=lambda row: -int(row["population"]))[:n]
    return Cities([r["name"] for r in rows], [r["country"] for r in rows],
                  np.array([float(r["lat"]) for r in rows]), np.array([float(r["lon"]) for r in rows]),
                  np.array([int(r["population"]) for r in rows]))


def haversine(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Great-circle distances [n, n] in km between points given in degrees."""
    phi, lam = np.radians(lat), np.radians(lon)
    dphi, dlam = phi[:, None] - phi[None], lam[:, None] - lam[None]
    h = np.sin(dphi / 2) ** 2 + np.cos(phi[:, None]) * np.cos(phi[None]) * np.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def planar(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """The true map [n, 2] in km (east, north): equirectangular around the points' mean latitude and longitude."""
    phi0 = np.radians(lat.mean())
    return EARTH_RADIUS_KM * np.stack([np.radians(lon - lon.mean()) * np.cos(phi0), np.radians(lat - lat.mean())], 1)


def stress(X: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
    """Σ_{m<n} (D_mn - ||x_m - x_n||)², the loss both methods minimise."""
    i, j = torch.triu_indices(len(X), len(X), 1)
    return ((D[i, j] - (X[i] - X[j]).norm(dim=1)) ** 2).sum()


def flops_per_evaluation(n: int, dim: int, gradient: bool) -> float:
    """Approximate FLOPs of one stress evaluation: ~3·dim + 3 per pair forward, backward ≈ twice the forward."""
    forward = n * (n - 1) / 2 * (3 * dim + 3)
    return 3 * forward if gradient else forward


@dataclass
class Result:
    """One method's run: the best loss after each evaluation and snapshots of the best layout along the way."""

    method: str
    X: np.ndarray  # [n, dim]: the best layout found
    losses: np.ndarray  # [budget]: best stress after 1, 2, ... function evaluations
    snapshots: np.ndarray  # [S, n, dim]
    snapshot_evals: np.ndarray  # [S]: after how many evaluations each snapshot was taken
    flops_per_eval: float


def log_spaced(stop: int, n: int) -> list[int]:
    """min(n, stop) distinct integers from 1 to stop, as evenly spaced on a log scale as integers allow:
    the first evaluations, where gradient descent does most of its work, get their snapshots too."""
    n, at = min(n, stop), [0]
    for i, x in enumerate(np.geomspace(1, stop, n)):
        at.append(max(at[-1] + 1, min(round(x), stop - (n - 1 - i))))
    return at[1:]


class _Recorder:
    """Called with every evaluation; keeps the running best, and snapshots it at the chosen evaluations."""

    def __init__(self, budget: int, frames: int):
        self.budget, self.losses, self.snapshots, self.best = budget, [], [], (np.inf, None)
        self.at = set(log_spaced(budget, frames))

    def __call__(self, loss: float, x: np.ndarray) -> None:
        if len(self.losses) == self.budget:  # a last Nelder–Mead iteration (e.g. a shrink) may overrun maxfev
            return
        if loss < self.best[0]:
            self.best = (loss, x.copy())
        self.losses.append(self.best[0])
        if len(self.losses) in self.at:
            self.snapshots.append((len(self.losses), self.best[1]))


def mds(D: np.ndarray, method: str = "gd", dim: int = 2, budget: int = 2000, seed: int = 0,
        frames: int = 60) -> Result:
    """Lay out points so their distances match D, with `budget` evaluations of the stress (and its gradient, for gd)."""
    n = len(D)
    start = np.random.default_rng(seed).standard_normal((n, dim)) * D.mean() / 2  # about the right spread
    start -= start.mean(0)
    record, Dt = _Recorder(budget, frames), torch.as_tensor(D, dtype=torch.float64)
    if method == "gd":
        X = torch.tensor(start, requires_grad=True)
        for _ in range(budget):
            loss = stress(X, Dt)
            loss.backward()
            record(loss.item(), X.detach().numpy())
            with torch.no_grad():
                # 1/(2n) makes each step Guttman's SMACOF update for centred X: the stress never rises
                X -= X.grad / (2 * n)
            X.grad = None
    elif method == "nelder-mead":
        def objective(x):
            loss = stress(torch.from_numpy(x).view(n, dim), Dt).item()
            record(loss, x.reshape(n, dim))  # scipy's callback comes once per iteration, this once per evaluation
            return loss
        # adaptive (Gao & Han) parameters: scipy's advice for many dimensions; zero tolerances: run the whole budget
        scipy.optimize.minimize(objective, start.ravel(), method="Nelder-Mead", options=dict(
            maxfev=budget, maxiter=budget, xatol=0.0, fatol=0.0, adaptive=True))
    else:
        raise ValueError(f"method {method!r} is not one of gd, nelder-mead")
    evals, snapshots = zip(*record.snapshots)
    return Result(method, record.best[1], np.array(record.losses), np.stack(snapshots), np.array(evals),
                  flops_per_evaluation(n, dim, gradient=method == "gd"))


def procrustes_align(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """X moved onto Y by the best rotation or reflection, uniform scale and translation (orthogonal Procrustes)."""
    A, B = X - X.mean(0), Y - Y.mean(0)
    U, S, Vt = np.linalg.svd(A.T @ B)
    return S.sum() / (A**2).sum() * A @ (U @ Vt) + Y.mean(0)


def compare(n: int = 34, budget: int = 2000, seed: int = 0,
            frames: int = 60) -> tuple[Cities, np.ndarray, dict[str, Result]]:
    """The n largest cities, their true map [n, 2] and both methods' results, every layout aligned to that map."""
    cities = load_cities(n)
    truth, D = planar(cities.lat, cities.lon), haversine(cities.lat, cities.lon)
    results = {m: mds(D, m, budget=budget, seed=seed, frames=frames) for m in ("gd", "nelder-mead")}
    for r in results.values():
        r.X = procrustes_align(r.X, truth)
        r.snapshots = np.stack([procrustes_align(s, truth) for s in r.snapshots])
    return cities, truth, results
