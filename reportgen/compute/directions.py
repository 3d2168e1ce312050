"""Directions in weight space: seeded Gaussians normalised per filter or layer (Li et al. 2018), and flat vectors
(a trajectory's PCA axes) split by parameter. A direction is a list of tensors aligned with model.parameters()."""
from __future__ import annotations

import torch

NORMS = ("filter", "layer", "none")


def random_direction(model, seed=0, norm="filter", include_1d=False):
    """A Gaussian direction drawn on the CPU from ``seed`` (an int or a torch.Generator), then normalised."""
    gen = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)
    params = [p.detach() for p in model.parameters()]
    raw = [torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device) for p in params]
    return normalize(raw, params, norm, include_1d)


def normalize(direction, params, norm="filter", include_1d=False):
    """Li et al. 2018 §4: rescale each slice of ``direction`` to the norm of the same slice of ``params``.

    "filter": every row of a Linear weight / output filter of a conv weight is a slice; "layer": the
    whole tensor is one slice; "none": unchanged. 1-D and 0-D tensors (biases, normalisation
    parameters) get a zero direction unless ``include_1d``, then each is a single slice.
    """
    if norm not in NORMS:
        raise ValueError(f"norm={norm!r}: expected one of {NORMS}")
    out = []
    for d, p in zip(direction, params, strict=True):
        if p.dim() <= 1 and not include_1d:
            out.append(torch.zeros_like(p))
        elif norm == "none":
            out.append(d.clone())
        else:
            rows = p.shape[0] if norm == "filter" and p.dim() > 1 else 1
            d2, p2 = d.reshape(rows, -1), p.reshape(rows, -1)
            scale = p2.norm(dim=1, keepdim=True) / (d2.norm(dim=1, keepdim=True) + 1e-10)
            out.append((d2 * scale).reshape(p.shape))
    return out


def to_direction(model, flat):
    """Split a flat vector (e.g. a PCA direction of trajectory.pca) into a direction for ``model``."""
    params = list(model.parameters())
    chunks = torch.as_tensor(flat).split([p.numel() for p in params])
    return [c.reshape(p.shape).to(p) for c, p in zip(chunks, params, strict=True)]
