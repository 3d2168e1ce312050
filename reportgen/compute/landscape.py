"""Loss landscapes: a batched evaluator of the loss along lines and over planes of directions (directions.py).

A direction is a list of tensors aligned with ``list(model.parameters())`` (the order of
``named_parameters()``), each of its parameter's shape. A point of a plane is
``center + a * d1 + b * d2``; every loss is the one a plain loop (set the weights, forward) would give.
"""
import copy
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, replace_all_batch_norm_modules_

from ..store.io import write_npz
from .grid_cache import fingerprint, load, part_cache, parts
from .runtime import evaluating

# The output of these is affine in (weight, bias) jointly, so their outputs at every grid point are
# mixtures of K + 1 outputs computed once.
AFFINE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# Applied to [points, samples, features] these act per element, so a whole chunk goes through one call.
ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.ELU, nn.SELU, nn.SiLU,
               nn.Softplus, nn.Hardtanh, nn.Identity, nn.Dropout)


class Grid(NamedTuple):
    """Loss and accuracy per point; NaN where not computed (yet) and accuracy NaN unless y holds classes."""

    loss: np.ndarray
    accuracy: np.ndarray


def line(model, loss_fn, X, y, center, d, alphas, **options):
    """Loss and accuracy at ``center + a * d`` for every a in ``alphas``; options as for ``plane``."""
    ref = next(model.parameters())
    coeffs = torch.as_tensor(alphas, dtype=ref.dtype, device=ref.device).reshape(-1, 1)
    return _grid(model, loss_fn, X, y, center, [d], coeffs, **options)


def plane(model, loss_fn, X, y, center, d1, d2, alphas, betas, **options):
    """Loss and accuracy at ``center + a * d1 + b * d2`` as [len(betas), len(alphas)] arrays.

    ``center`` None means the model's parameters. ``loss_fn(output, y)`` returns the mean loss and
    runs under torch.vmap, so it must be a plain tensor function (nn.CrossEntropyLoss() is). X is
    evaluated whole at every point, in eval mode: dropout off, batch norm with its stored running
    statistics. Options:
    - ``recompute_bn=True``: every batch norm normalises with the mean and (biased) variance of the
      evaluation samples at each point, as a train-mode forward does; stored statistics untouched.
    - ``budget``: bytes for one chunk of points, their weights and activations (default 64 MiB on
      the CPU, 1 GiB elsewhere); the first layer's K + 1 outputs on X are kept besides, once.
    - ``cache``: a path where finished points are kept, so that an interrupted grid resumes.
    - ``max_chunks``: stop after that many chunks; the points not reached stay NaN.
    - ``part=(k, n)``: only the k-th of n equal runs of points (whole rows of a plane), kept in a part cache
      beside ``cache``; a later call without ``part`` merges every part's points, as if it computed them.
    """
    ref = next(model.parameters())
    b, a = torch.meshgrid(*(torch.as_tensor(v, dtype=ref.dtype, device=ref.device) for v in (betas, alphas)),
                          indexing="ij")
    loss, acc = _grid(model, loss_fn, X, y, center, [d1, d2], torch.stack([a.flatten(), b.flatten()], 1),
                      **options)
    return Grid(loss.reshape(a.shape), acc.reshape(a.shape))


def engine_path(model):
    """Which evaluation path ``model`` takes: "mlp" (batched matrix products after an exact first
    layer), "vmap-tail" (exact first layer, then vmap) or "vmap" (the whole model under vmap).
    Inputs with no sample dimension before the features go to vmap-tail instead of mlp."""
    _, first, rest = _plan(model)
    if first is None:
        return "vmap"
    return "mlp" if _is_mlp(rest) else "vmap-tail"


def _grid(model, loss_fn, X, y, center, dirs, coeffs, budget=None, recompute_bn=False, cache=None,
          max_chunks=None, part=None):
    """Evaluate the points ``center + coeffs @ dirs`` chunk by chunk, skipping those done in ``cache``."""
    ref = next(model.parameters())
    X, y = X.to(ref.device), y.to(ref.device)
    center = [p.detach().clone() for p in model.parameters()] if center is None else center
    for name, v in [("center", center), *((f"direction {i + 1}", d) for i, d in enumerate(dirs))]:
        if [t.shape for t in v] != [p.shape for p in model.parameters()]:
            raise ValueError(f"{name}: expected a list of tensors shaped like list(model.parameters())")
    key = fingerprint([X, y, coeffs, *center, *(t for d in dirs for t in d)], recompute_bn)
    cache = None if cache is None else Path(cache)
    if part is not None:
        if cache is None:
            raise ValueError("part: needs a cache, where the part's points are kept for the whole grid")
        cache = part_cache(cache, part)
    loss, acc, done = load(cache, key, len(coeffs))
    todo = np.flatnonzero(~done)
    if part is not None:
        todo = np.intersect1d(todo, np.array_split(np.arange(len(coeffs)), part[1])[part[0]])
    with torch.no_grad(), evaluating(model):
        engine = _Evaluator(model, loss_fn, X, y, center, dirs, recompute_bn) if len(todo) else None
        # on the CPU small chunks stay in cache; a GPU wants big launches
        budget = budget or (2**26 if ref.device.type == "cpu" else 2**30)
        size = max(1, budget // engine.bytes_per_point) if engine else 1
        for n, start in enumerate(range(0, len(todo), size)):
            if max_chunks is not None and n >= max_chunks:
                break
            idx = todo[start:start + size]
            chunk_loss, chunk_acc = engine(coeffs[torch.as_tensor(idx, device=coeffs.device)])
            loss[idx], acc[idx], done[idx] = chunk_loss.cpu().numpy(), chunk_acc.cpu().numpy(), True
            if cache is not None:
                write_npz(cache, key=key, loss=loss, accuracy=acc, done=done)  # atomic: a kill keeps the last
    if cache is not None and part is None and done.all() and parts(cache):  # the parts become the grid's
        write_npz(cache, key=key, loss=loss, accuracy=acc, done=done)
        for merged in parts(cache):
            merged.unlink()
    return Grid(loss, acc)


class _Evaluator:
    """Losses of a chunk of points: exact first layer once per grid, the other layers per chunk."""

    def __init__(self, model, loss_fn, X, y, center, dirs, recompute_bn):
        self.loss_fn, self.y = loss_fn, y
        pre, first, rest = _plan(model)
        x = X
        for unit in pre:
            x = unit(x)
        self.head = None if first is None else _head(first, _Mixer([first], model, center, dirs), x)
        self.mlp = first is not None and self.head.dim() >= 3 and _is_mlp(rest)
        self.mixer = _Mixer(rest, model, center, dirs)
        probe = x[:2] if first is None else first(x[:2])
        activations = _peak_numel(rest, probe) // len(probe) * len(X)
        # the chunk's own weights plus a few live activations, per point
        self.bytes_per_point = center[0].element_size() * (len(self.mixer.center) + 3 * activations)
        if recompute_bn:  # without running statistics every batch norm normalises with its batch
            rest = copy.deepcopy(rest)
            for unit in rest:
                replace_all_batch_norm_modules_(unit)
        self.x, self.rest = x, [_in_place(u) for u in rest] if self.mlp else rest
        self.ws = _Workspace(center[0])

    def __call__(self, coeffs):
        n = len(coeffs)
        params = self.mixer.split(torch.addmm(self.mixer.center, coeffs, self.mixer.dirs,
                                              out=self.ws.get(0, n, len(self.mixer.center))))
        if self.head is None:
            out = torch.vmap(self._chain, in_dims=(None, 0))(self.x, params)
        else:
            mix = torch.cat([torch.ones_like(coeffs[:, :1]), coeffs], 1)
            h = torch.mm(mix, self.head.flatten(1), out=self.ws.get(1, n, self.head[0].numel()))
            h = h.view(n, *self.head.shape[1:])
            if self.mlp:  # Linear acts on the last dimension: fold the others into the samples
                out = _mlp_chain(self.rest, h.flatten(1, -2), params, self.ws).view(*h.shape[:-1], -1)
            else:
                out = torch.vmap(self._chain)(h, params)
        loss = torch.vmap(self.loss_fn, in_dims=(0, None))(out, self.y)
        if self.y.is_floating_point() or out.dim() != self.y.dim() + 2:
            return loss, torch.full_like(loss, float("nan"))
        return loss, (out.argmax(-1) == self.y).flatten(1).float().mean(1)

    def _chain(self, h, params):
        for unit, p in zip(self.rest, params):
            h = functional_call(unit, p, (h,))
        return h


class _Mixer:
    """The parameters of some units as one flat centre [n] and directions [K, n], so that a single
    addmm gives a whole chunk of points its weights."""

    def __init__(self, units, model, center, dirs):
        index = {id(p): i for i, p in enumerate(model.parameters())}
        self.layout = [[(n, p.shape) for n, p in unit.named_parameters()] for unit in units]
        ids = [index[id(p)] for unit in units for _, p in unit.named_parameters()]
        empty = [center[0].new_zeros(0)]
        self.center = torch.cat([center[i].reshape(-1) for i in ids] or empty)
        self.dirs = torch.stack([torch.cat([d[i].reshape(-1) for i in ids] or empty) for d in dirs])

    def split(self, flat):
        """Rows of flat [P, n] as, per unit, {name: [P, *shape]} views."""
        parts = iter(flat.split([s.numel() for unit in self.layout for _, s in unit], 1))
        return [{n: next(parts).view(-1, *s) for n, s in unit} for unit in self.layout]


class _Workspace:
    """Flat buffers reused from chunk to chunk: on the CPU every fresh large tensor costs page faults,
    as much as the matrix product that fills it."""

    def __init__(self, like):
        self.like, self.buffers = like, {}

    def get(self, slot, *shape):
        need = math.prod(shape)
        if slot not in self.buffers or self.buffers[slot].numel() < need:
            self.buffers[slot] = self.like.new_empty(need)
        return self.buffers[slot][:need].view(shape)


def _head(first, mixer, x):
    """Outputs of the first affine unit for the centre's parameters and for each bare direction."""
    basis = mixer.split(torch.cat([mixer.center[None], mixer.dirs]))[0]
    return torch.vmap(lambda p: functional_call(first, p, (x,)))(basis)


def _mlp_chain(units, h, params, ws):
    """Linear layers as one batched matrix product per layer, each point with its own weights, into
    workspace slots 2 and 1 in turn (slot 1 holds the input, which the second layer may overwrite)."""
    done = 0
    for unit, p in zip(units, params):
        if type(unit) is nn.Linear:
            w = p["weight"].transpose(1, 2)
            out = ws.get(2 - done % 2, *h.shape[:2], w.shape[2])
            if "bias" in p:
                h = torch.baddbmm(p["bias"].unsqueeze(1), h, w, out=out)
            else:
                h = torch.bmm(h, w, out=out)
            done += 1
        else:
            h = unit(h)
    return h


def _in_place(unit):
    """A twin of an activation that overwrites its input, which the chain owns."""
    if not hasattr(unit, "inplace"):
        return unit
    twin = copy.copy(unit)
    twin.inplace = True
    return twin


def _plan(model):
    """(stateless prefix, first affine unit or None, remaining units) of a Sequential model; any
    other model, or one with hooks, is a single unit for vmap."""
    units = _units(model)
    if units is None or any(m._forward_hooks or m._forward_pre_hooks for m in model.modules()):
        return [], None, [model]
    # a prefix with buffers (a batch norm) could depend on recompute_bn: only a stateless one is shared
    k = next((i for i, u in enumerate(units) if next(u.parameters(), None) is not None
              or next(u.buffers(), None) is not None), len(units))
    if k < len(units) and type(units[k]) in AFFINE:
        return units[:k], units[k], units[k + 1:]
    return [], None, units


def _units(module):
    """The leaves of nested nn.Sequential containers in call order; None for any other module."""
    if type(module) is not nn.Sequential:
        return None
    return [leaf for m in module for leaf in (_units(m) or [m])]


def _is_mlp(units):
    return all(type(u) is nn.Linear or type(u) in ELEMENTWISE for u in units)


def _peak_numel(units, h):
    """Largest tensor any module outputs while ``units`` run on ``h`` (sizes the chunks)."""
    sizes = [h.numel()]
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda m, i, o: sizes.append(o.numel()) if torch.is_tensor(o) else None)
    try:
        for unit in units:
            h = unit(h)
    finally:
        hook.remove()
    return max(sizes)
