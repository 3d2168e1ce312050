"""Per-tensor gradient statistics on the device: the talk's median of log10|g| and friends, exactly."""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

STATS: tuple[str, ...] = ("median", "q05", "q25", "q75", "q95", "zero_frac", "l2")
PERCENTS = (5, 25, 50, 75, 95)   # selected in ascending order, so one tensor's picks share bins in order
_COLUMN = (2, 0, 1, 3, 4)        # STATS[i] for i < 5 is the PERCENTS[_COLUMN[i]] pick
_ZERO_BIN = 2049                 # first-level bins per tensor: exact zeros, then |g| bits >> 20


@functools.lru_cache(maxsize=4)
def _layout(sizes: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per element, the first-level bin of its tensor's zeros; and the tensors' sizes."""
    n = torch.tensor(sizes, device=device)
    base = torch.arange(len(sizes), device=device, dtype=torch.int32) * _ZERO_BIN
    return torch.repeat_interleave(base, n, output_size=sum(sizes)), n


def _count(keys: torch.Tensor, bins: int) -> torch.Tensor:
    """Histogram of int keys in [0, bins). CUDA's bincount reads its max back to the host; index_add_ does not."""
    if keys.device.type == "cpu":
        return torch.bincount(keys, minlength=bins)
    ones = torch.ones((), dtype=torch.int64, device=keys.device).expand(keys.numel())
    return torch.zeros(bins, dtype=torch.int64, device=keys.device).index_add_(0, keys, ones)


def _pick(cum: torch.Tensor, rank: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of inclusive running counts: the bin holding order statistic `rank`, and its rank inside."""
    d = torch.searchsorted(cum, rank.unsqueeze(1), right=True).clamp_(max=cum.shape[1] - 1)
    return d.squeeze(1), rank - F.pad(cum, (1, 0)).gather(1, d).squeeze(1)


def _groups(code: torch.Tensor) -> torch.Tensor:
    """Dense ids for runs of equal codes (picks of one tensor landing in one bin share their candidates)."""
    new = torch.ones_like(code, dtype=torch.bool)
    new[1:] = code[1:] != code[:-1]
    return new.cumsum(0) - 1


def _narrow(key, v, lut, compact):
    """Group of each candidate after a level, from its previous bin; drop (CPU) or park (GPU) the rest."""
    g = lut[key]
    if compact:   # a boolean index is cheap on the CPU but reads its size back from a GPU
        keep = g < lut.numel()
        return g[keep], v[keep]
    return g, v


def _select(ab1: torch.Tensor, first: torch.Tensor, count: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact order statistics of |g| by a three-level radix select on the bits b = |g|bits - 1 (31 bits:
    11, 10, 10). Returns [S, 5] selected |g| bits and the [S] count of exact zeros."""
    s = count.numel()
    h = _count(first, s * _ZERO_BIN).view(s, _ZERO_BIN)
    zeros, cum = h[:, 0], h[:, 1:].cumsum(1)
    nonzero = count - zeros
    rank = ((nonzero - 1).clamp(min=0).unsqueeze(1) * torch.tensor(PERCENTS, device=h.device) // 100).view(-1)
    row = torch.arange(s, device=h.device).repeat_interleave(len(PERCENTS))
    digit, rank = _pick(cum[row], rank)
    value, code = digit, row * _ZERO_BIN + 1 + digit
    key, v = first, ab1
    for shift in (10, 0):
        t = rank.numel()
        gid = _groups(code)
        lut = torch.full((code.new_zeros(()) + key.max() + 1 if False else _lut_size(code, s, t),), t,
                         dtype=torch.int32, device=h.device)
    return value, zeros
