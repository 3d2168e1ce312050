"""Optimizers racing over 2-D test functions (real torch.optim, plus Lion and Muon); Newton vs gradient fields.

Torch is imported where a race runs: gathering a known declaration must not load it (its racers: checks.py)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

Box = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class Surface:
    """A 2-D test function: f maps points [..., 2] to values [...], so one call also fills a contour grid."""

    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    box: Box  # ((xmin, xmax), (ymin, ymax)) worth plotting
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]  # empty where f is unbounded below


def _rosenbrock(p):
    x, y = p[..., 0], p[..., 1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _beale(p):
    x, y = p[..., 0], p[..., 1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _himmelblau(p):
    x, y = p[..., 0], p[..., 1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def _ravine(p):
    # condition number 20, axis-aligned: per-coordinate methods (Adagrad, RMSprop, Adam) get to undo it
    return 0.5 * (p[..., 0] ** 2 + 20 * p[..., 1] ** 2)


def _saddle(p):
    return p[..., 0] ** 2 - p[..., 1] ** 2


FUNCTIONS = {s.name: s for s in (
    Surface("rosenbrock", _rosenbrock, ((-2.0, 2.0), (-1.0, 3.0)), (-1.2, 1.0), ((1.0, 1.0),)),
    Surface("beale", _beale, ((-4.5, 4.5), (-4.5, 4.5)), (1.0, 1.5), ((3.0, 0.5),)),
    Surface("himmelblau", _himmelblau, ((-5.0, 5.0), (-5.0, 5.0)), (0.0, 0.0),
            ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126))),
    Surface("ravine", _ravine, ((-4.0, 4.0), (-2.0, 2.0)), (-3.5, 1.5), ((0.0, 0.0),)),
    # starts a hair off the ridge y = 0: exactly on it, gradient methods never leave the saddle
    Surface("saddle", _saddle, ((-2.0, 2.0), (-2.0, 2.0)), (-1.8, 1e-3), ()),
)}


@dataclass
class Track:
    """One racer: points path [steps + 1, 2] and the noise-free f there, losses [steps + 1]; NaN once diverged."""

    path: np.ndarray
    losses: np.ndarray


def _run(function: Surface, make, kwargs: dict, steps: int, start, noise: float, seed: int) -> Track:
    import torch
    point = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = make([point], **kwargs)
    # a fresh generator per racer: all of them see the same noise, so the differences are the rules'
    generator = torch.Generator().manual_seed(seed)
    track = Track(np.full((steps + 1, 2), np.nan), np.full(steps + 1, np.nan))
    for t in range(steps + 1):
        optimizer.zero_grad()
        loss = function.f(point)
        if not (torch.isfinite(loss) and torch.isfinite(point).all()):
            break
        track.path[t], track.losses[t] = point.detach().numpy(), loss.item()
        if t == steps:
            break
        loss.backward()
        point.grad += noise * torch.randn(2, generator=generator, dtype=torch.float64)
        optimizer.step()
    return track


def race(function: Surface | str, optimizers: dict[str, tuple[Callable, dict]], steps: int,
         start: tuple[float, float] | None = None, noise: float = 0.0, seed: int = 0) -> dict[str, Track]:
    """Run each optimizer (class or factory taking [param], **kwargs) from the same start; noise: gradient σ."""
    function = FUNCTIONS[function] if isinstance(function, str) else function
    start = function.start if start is None else start
    return {name: _run(function, make, kwargs, steps, start, noise, seed)
            for name, (make, kwargs) in optimizers.items()}


@dataclass
class Field:
    """Directions on a grid, indexed [iy, ix] like matplotlib's quiver(x, y, u, v).

    newton is the step to the stationary point of the local quadratic model, NaN where H is singular;
    negative_curvature counts H's negative eigenvalues: that point is the model's minimum (0), saddle (1)
    or maximum (2), where Newton's method heads although it was asked to minimise.
    """

    x: np.ndarray  # [n]
    y: np.ndarray  # [n]
    gradient: np.ndarray  # [n, n, 2]: -∇f, always downhill
    newton: np.ndarray  # [n, n, 2]: -H⁻¹∇f
    negative_curvature: np.ndarray  # [n, n]: 0, 1 or 2


def newton_field(function: Surface | str, box: Box | None = None, n: int = 25) -> Field:
    """Gradient-descent and Newton directions on an n×n grid over box (default: the function's own)."""
    import torch
    from torch.func import grad, hessian, vmap
    function = FUNCTIONS[function] if isinstance(function, str) else function
    (x0, x1), (y0, y1) = function.box if box is None else box
    x, y = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    points = torch.tensor(np.stack(np.meshgrid(x, y), -1).reshape(-1, 2))
    g, h = vmap(grad(function.f))(points), vmap(hessian(function.f))(points)
    newton, info = torch.linalg.solve_ex(h, -g)
    newton[info != 0] = torch.nan
    negative = (torch.linalg.eigvalsh(h) < 0).sum(-1)
    return Field(x, y, -g.reshape(n, n, 2).numpy(), newton.reshape(n, n, 2).numpy(), negative.reshape(n, n).numpy())
