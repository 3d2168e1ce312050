"""Double descent with polynomials (seed 004): minimum-norm least squares on Chebyshev features at every degree."""
from __future__ import annotations

import numpy as np
from numpy.polynomial import chebyshev

from ..declare.demos import DoubleDescent
from .demos import _finish
from .runners import RUNNERS

GRID = 400  # points of the curves drawn


def fit(x: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    """The Chebyshev coefficients of smallest norm among the best least-squares fits of degree `degree`: the
    only fit below the interpolation threshold (degree + 1 < len(x)), the smallest of infinitely many above it."""
    return np.linalg.lstsq(chebyshev.chebvander(x, degree), y, rcond=None)[0]


def descent(exp: DoubleDescent) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(exp.seed)
    x = np.linspace(-1, 1, exp.points)
    y = np.sin(2 * np.pi * x) + exp.noise * rng.normal(size=exp.points)
    x_test, grid = np.linspace(-1, 1, 100), np.linspace(-1, 1, GRID)
    degrees = np.arange(exp.degrees + 1)
    train, test, curves, norms = [], [], [], []
    for d in degrees:
        w = fit(x, y, int(d))
        train.append(np.mean((chebyshev.chebval(x, w) - y) ** 2))
        test.append(np.mean((chebyshev.chebval(x_test, w) - np.sin(2 * np.pi * x_test)) ** 2))
        curves.append(chebyshev.chebval(grid, w))
        norms.append(np.linalg.norm(w))
    return {"x": x, "y": y, "x_test": x_test, "grid": grid, "degrees": degrees, "train_error": np.array(train),
            "test_error": np.array(test), "curves": np.array(curves, np.float32), "norm": np.array(norms)}


@RUNNERS.register(DoubleDescent)
def run_double_descent(exp: DoubleDescent, run, progress=None) -> str:
    return _finish(exp, run, "double_descent", **descent(exp))
