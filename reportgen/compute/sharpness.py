"""Sharpness: the loss Hessian's top eigenvalue (Lanczos on Hessian-vector products) and its trace (Hutchinson)."""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F


def hvp_operator(model: torch.nn.Module, params: list[torch.Tensor], x, y,
                 loss_fn: Callable = F.cross_entropy) -> Callable[[torch.Tensor], torch.Tensor]:
    """v ↦ H v for the Hessian H of loss_fn(model(x), y) in `params`, on flat vectors: one forward and backward
    with create_graph, then each product one double-backward pass through that graph."""
    grads = torch.autograd.grad(loss_fn(model(x), y), params, create_graph=True)
    shapes = [p.shape for p in params]
    sizes = [p.numel() for p in params]

    def hvp(v: torch.Tensor) -> torch.Tensor:
        vs = [part.view(shape) for part, shape in zip(v.split(sizes), shapes)]
        out = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=True, allow_unused=True)
        return torch.cat([(o if o is not None else torch.zeros_like(p)).reshape(-1) for o, p in zip(out, params)])
    return hvp


def lanczos(op: Callable[[torch.Tensor], torch.Tensor], start: torch.Tensor, iterations: int) \
        -> tuple[torch.Tensor, torch.Tensor]:
    """The largest eigenvalue of the symmetric operator `op` and its unit eigenvector, from `iterations` Lanczos
    steps started at `start`: the three-term recurrence, then one Gram-Schmidt pass against the whole basis (full
    reorthogonalisation), the basis kept in one preallocated [iterations, n] block that each step reads twice
    (stacking it anew each step cost more than the products). Nothing is read back to the host."""
    k = min(iterations, start.numel())
    basis = torch.empty(k, start.numel(), dtype=start.dtype, device=start.device)
    basis[0] = start / start.norm()
    alphas, betas = [], []
    for j in range(k):
        q = basis[j]
        w = op(q)
        alpha = torch.dot(w, q)
        alphas.append(alpha)
        w.addcmul_(q, alpha, value=-1)   # in place: a temporary of n costs about as much as the pass
        if j:
            w.addcmul_(basis[j - 1], betas[-1], value=-1)
        done = basis[:j + 1]
        w.addmv_(done.T, done @ w, alpha=-1)
        if j == k - 1:
            break
        beta = w.norm().clamp_min(torch.finfo(w.dtype).tiny)
        betas.append(beta)
        torch.div(w, beta, out=basis[j + 1])
    t = torch.diag(torch.stack(alphas))
    if betas:
        off = torch.stack(betas)
        t = t + torch.diag(off, 1) + torch.diag(off, -1)
    values, vectors = torch.linalg.eigh(t.double())
    ritz = basis.T @ vectors[:, -1].to(start.dtype)
    return values[-1].to(start.dtype), ritz / ritz.norm()


def hutchinson(op: Callable[[torch.Tensor], torch.Tensor], n: int, probes: int, generator: torch.Generator,
               dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The trace of `op` as the mean of zᵀ op(z) over `probes` Rademacher vectors z, and its standard error."""
    if probes == 0:
        nan = torch.full((), math.nan, dtype=dtype, device=device)
        return nan, nan
    samples = []
    for _ in range(probes):
        z = (torch.randint(0, 2, (n,), generator=generator) * 2 - 1).to(dtype).to(device)
        samples.append(torch.dot(z, op(z)))
    s = torch.stack(samples)
    se = s.std() / math.sqrt(probes) if probes > 1 else torch.full((), math.nan, dtype=dtype, device=device)
    return s.mean(), se


def preconditioner(optimizer, params: list[torch.Tensor]) -> tuple[torch.Tensor | None, float, str]:
    """For Adam and AdamW: D = P^(-1/2) (flat), with P = diag(√v̂ + ε) their preconditioner, so that D H D has the
    eigenvalues of P⁻¹H; the stability limit's factor c (limit c / η) and the kind drawn. Otherwise D is None."""
    if isinstance(optimizer, (torch.optim.Adam, torch.optim.AdamW)):
        group = optimizer.param_groups[0]
        beta1, beta2 = group["betas"]
        c = (2 + 2 * beta1) / (1 - beta1)
        states = [optimizer.state.get(p, {}) for p in params]
        if not all("exp_avg_sq" in s for s in states):   # before its first step: no preconditioner yet
            return torch.full((sum(p.numel() for p in params),), math.nan, device=params[0].device), c, "adam"
        parts = []
        for p, s in zip(params, states):
            step = float(s["step"])
            v_hat = s["exp_avg_sq"] / (1 - beta2 ** step)
            parts.append((v_hat.sqrt() + group["eps"]).rsqrt().reshape(-1))
        return torch.cat(parts).to(params[0].dtype), c, "adam"
    if isinstance(optimizer, torch.optim.SGD):
        group = optimizer.param_groups[0]
        beta = group.get("momentum", 0.0)
        c = (2 + 2 * beta) / (1 + 2 * beta) if group.get("nesterov") else 2 + 2 * beta
        return None, c, "sgd"
    return None, math.nan, "other"


class Meter:
    """Measures sharpness on a fixed batch (x, y), warm-starting each Lanczos run from the last eigenvector.
    The training's RNG, batch-norm statistics and parameter gradients are left as they were."""

    def __init__(self, model: torch.nn.Module, x, y, iterations: int = 20, probes: int = 10, seed: int = 0,
                 loss_fn: Callable = F.cross_entropy, every: int = 1, steps: int = 0):
        self.model, self.x, self.y, self.loss_fn = model, x, y, loss_fn
        self.every, self.steps = every, steps   # when: every `every` epochs, or every `steps` steps if > 0
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.iterations, self.probes = iterations, probes
        self.generator = torch.Generator().manual_seed(seed)
        self.vector: torch.Tensor | None = None
        self.kind = ""

    def measure(self, optimizer, lr: float) -> torch.Tensor:
        """[λ_max, limit, trace, trace standard error] on the device: λ_max of H (SGD and others) or of P⁻¹H
        (Adam, AdamW; NaN before its first step), the stability limit c / lr (NaN where none is known)."""
        scale, c, self.kind = preconditioner(optimizer, self.params)
        buffers = [b.clone() for b in self.model.buffers()]
        devices = [self.x.device] if self.x.device.type == "cuda" else []
        with torch.random.fork_rng(devices), torch.enable_grad():
            torch.manual_seed(int(torch.randint(0, 2 ** 31, (), generator=self.generator)))  # a fixed dropout mask
            hvp = hvp_operator(self.model, self.params, self.x, self.y, self.loss_fn)
            n, dtype, device = sum(p.numel() for p in self.params), self.params[0].dtype, self.params[0].device
            op = hvp if scale is None else (lambda v: hvp(scale * v).mul_(scale))
            if self.vector is None:
                self.vector = torch.randn(n, generator=self.generator).to(dtype).to(device)
            if scale is not None and not bool(torch.isfinite(scale[:1]).all()):
                top = torch.full((), math.nan, dtype=dtype, device=device)
            else:
                top, self.vector = lanczos(op, self.vector, self.iterations)
            trace, se = hutchinson(hvp, n, self.probes, self.generator, dtype, device)
        with torch.no_grad():
            for b, saved in zip(self.model.buffers(), buffers):
                b.copy_(saved)
        limit = c / lr if lr > 0 else math.inf
        return torch.stack([top.float(), torch.full((), limit, device=device), trace.float(), se.float()])

    def state(self) -> dict:
        """What a resumed run needs to measure as an uninterrupted one would: the warm start and the generator
        (the dropout masks' seeds and the trace's probes)."""
        return {"vector": self.vector, "generator": self.generator.get_state()}

    def restore(self, state: dict) -> None:
        vector = state["vector"]
        self.vector = None if vector is None else vector.to(self.params[0].device)
        self.generator.set_state(state["generator"])

    def due(self, step: int | None = None, epoch: int | None = None) -> bool:
        """Whether to measure after `step` (steps > 0) or at the end of `epoch` (otherwise)."""
        if self.steps:
            return step is not None and step % self.steps == 0
        return epoch is not None and epoch % self.every == 0


def meter(declared, model: torch.nn.Module, x, y, seed: int = 0, loss_fn: Callable = F.cross_entropy) -> Meter:
    """The Meter a Sharpness declaration describes, on the first `declared.batch` samples of (x, y)."""
    return Meter(model, x[:declared.batch], y[:declared.batch], declared.iterations, declared.probes, seed,
                 loss_fn, declared.every, declared.steps)
