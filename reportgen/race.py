"""Optimizers racing over 2-D test functions (real torch.optim, plus Lion and Muon); Newton vs gradient fields."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import grad, hessian, vmap

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


class Lion(torch.optim.Optimizer):
    """Lion (Chen et al. 2023, Algorithm 2): step along sign(β1·m + (1-β1)·g), then m ← β2·m + (1-β2)·g."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            loss = closure() if closure else None
        for group in self.param_groups:
            lr, (beta1, beta2) = group["lr"], group["betas"]
            for p in (p for p in group["params"] if p.grad is not None):
                m = self.state[p].setdefault("exp_avg", torch.zeros_like(p))
                update = (beta1 * m + (1 - beta1) * p.grad).sign()
                p.mul_(1 - lr * group["weight_decay"]).add_(update, alpha=-lr)
                m.mul_(beta2).add_(p.grad, alpha=1 - beta2)
        return loss


def newton_schulz(g: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """Jordan's quintic Newton–Schulz on a matrix: U S' V^T with S' ≈ 1 (in about [0.7, 1.2]), no SVD needed."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g / (g.norm() + eps)  # Frobenius ≥ spectral norm, so every singular value starts in (0, 1]
    tall = x.shape[0] > x.shape[1]
    x = x.T if tall else x  # X Xᵀ on the short side is the cheaper Gram matrix
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


class Muon(torch.optim.Optimizer):
    """Muon as in seed 001: B ← μB + g, G ← g + μB, θ ← θ - η(NewtonSchulz5(G) + λθ), in the param's dtype.

    A parameter with fewer than 2 dims is viewed as a 1×n matrix. Its one singular value is pushed to ~1,
    so for the 2-vector of a race the step is the Nesterov momentum normalised to length 0.70·lr (where
    NS5's tuned, deliberately non-converging coefficients land from 1): a fixed-length step along the
    momentum, which is what "orthogonal" means for a 1×n matrix. Viewing (x, y) as diag(x, y) instead
    would orthogonalise to sign(momentum), i.e. Lion without its interpolation: a structure the race lacks.
    torch.optim.Muon refuses 1-D parameters and runs the iteration in bfloat16, hence this class.
    """

    def __init__(self, params, lr=0.02, momentum=0.95, weight_decay=0.0, ns_steps=5):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, ns_steps=ns_steps))

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            loss = closure() if closure else None
        for group in self.param_groups:
            lr, mu = group["lr"], group["momentum"]
            for p in (p for p in group["params"] if p.grad is not None):
                buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
                buf.mul_(mu).add_(p.grad)
                nesterov = p.grad + mu * buf
                matrix = nesterov.flatten(1) if p.ndim >= 2 else nesterov.reshape(1, -1)
                p.mul_(1 - lr * group["weight_decay"])
                p.add_(newton_schulz(matrix, group["ns_steps"]).view_as(p), alpha=-lr)
        return loss


# settings that give every racer a visible, non-exploding run from the default starts
GALLERY = {
    "SGD": (torch.optim.SGD, {"lr": 1e-3}),
    "Momentum": (torch.optim.SGD, {"lr": 1e-3, "momentum": 0.9}),
    "Nesterov": (torch.optim.SGD, {"lr": 1e-3, "momentum": 0.9, "nesterov": True}),
    "Adagrad": (torch.optim.Adagrad, {"lr": 0.3}),
    "RMSprop": (torch.optim.RMSprop, {"lr": 1e-2}),
    "Adam": (torch.optim.Adam, {"lr": 3e-2}),
    "AdamW": (torch.optim.AdamW, {"lr": 3e-2, "weight_decay": 1e-2}),
    "NAdam": (torch.optim.NAdam, {"lr": 3e-2}),
    "Lion": (Lion, {"lr": 1e-2}),
    "Muon": (Muon, {"lr": 2e-2}),
}


@dataclass
class Track:
    """One racer: points path [steps + 1, 2] and the noise-free f there, losses [steps + 1]; NaN once diverged."""

    path: np.ndarray
    losses: np.ndarray


def _run(function: Surface, make, kwargs: dict, steps: int, start, noise: float, seed: int) -> Track:
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
    function = FUNCTIONS[function] if isinstance(function, str) else function
    (x0, x1), (y0, y1) = function.box if box is None else box
    x, y = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    points = torch.tensor(np.stack(np.meshgrid(x, y), -1).reshape(-1, 2))
    g, h = vmap(grad(function.f))(points), vmap(hessian(function.f))(points)
    newton, info = torch.linalg.solve_ex(h, -g)
    newton[info != 0] = torch.nan
    negative = (torch.linalg.eigvalsh(h) < 0).sum(-1)
    return Field(x, y, -g.reshape(n, n, 2).numpy(), newton.reshape(n, n, 2).numpy(), negative.reshape(n, n).numpy())
