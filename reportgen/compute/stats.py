"""Per-tensor gradient statistics: the talk's median of log10|g| and friends, exact and cheap every step."""
from __future__ import annotations

import ctypes
import functools

import numpy as np
import torch

from ..store.rundir import STATS
from . import native

PERCENTS = (5, 25, 50, 75, 95)   # picked in ascending order; STATS puts the median first
_MEDIAN = PERCENTS.index(50)


# The CPU path (kernels/grad_stats.cpp). Torch has no fused selection: on the CPU its sort costs 3.4 training
# steps of the benchmark model, a bincount radix select with gathers (tried) more than one; this kernel, which
# reads each tensor twice, a few hundredths (benchmarks/recording.py).
@functools.cache
def _kernel(*flags: str):
    """The CPU kernel, built once per machine (and `flags`); None, with a warning, without a compiler."""
    lib = native.build("grad_stats", "CPU gradient statistics fall back to a slow torch sort", *flags)
    if lib:
        ptr = ctypes.c_void_p
        lib.grad_stats.argtypes = [ctypes.c_int, ptr, ptr, ptr, ctypes.c_int, ptr, ptr, ptr, ptr]
        lib.sum_squares.argtypes = [ctypes.c_int, ptr, ptr, ptr, ctypes.c_int, ptr]
    return lib


def _cpu(grads: list[torch.Tensor], lib: ctypes.CDLL) -> tuple[torch.Tensor, ...]:
    s = len(grads)
    bits, zeros = torch.zeros(s, 5, dtype=torch.int32), torch.empty(s, dtype=torch.int64)
    ss = torch.empty(s, dtype=torch.float64)
    sizes = native.call(lib.grad_stats, grads, np.asarray(PERCENTS, np.int32), bits, zeros, ss)
    return bits, zeros, torch.from_numpy(sizes), ss.sqrt()


@functools.lru_cache(maxsize=8)
def _layout(sizes: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """For the sort path: each element's tensor index << 31; per tensor that key, its start and size."""
    count = torch.tensor(sizes, device=device)
    first = torch.arange(len(sizes), device=device) << 31
    return (torch.repeat_interleave(first, count, output_size=sum(sizes)), first, count.cumsum(0) - count, count,
            torch.tensor(PERCENTS, device=device))


def _sorted(grads: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Any device, no host sync, a handful of launches: sort (tensor, |g| bits) keys, read the picks off."""
    flat = torch.cat([g.detach().reshape(-1) for g in grads]).float()
    sizes = [g.numel() for g in grads]
    tensor, first, start, count, percents = _layout(tuple(sizes), flat.device)
    key = ((flat.view(torch.int32) & 0x7FFFFFFF) | tensor).sort().values   # each tensor's zeros lead it
    zeros = torch.searchsorted(key, first | 1) - start
    at = (start + zeros).unsqueeze(1) + (count - zeros - 1).clamp(min=0).unsqueeze(1) * percents // 100
    bits = (key[at.clamp(max=key.numel() - 1)] & 0x7FFFFFFF).to(torch.int32)
    return bits, zeros, count, torch.stack(torch._foreach_norm(list(flat.split(sizes)), 2, dtype=torch.float64))


def _on_cpu(grads: list[torch.Tensor]) -> ctypes.CDLL | None:
    return _kernel() if grads[0].device.type == "cpu" else None


@torch.no_grad()
def grad_stats(grads: list[torch.Tensor]) -> torch.Tensor:
    """[len(grads), len(STATS)] float32 on the grads' device; nothing is read back to the host.

    median, q05..q95: log10|g| over the m non-zero entries, the order statistic of 0-based rank
    floor(p (m - 1) / 100) (numpy's method="lower"; "median" is then torch.median's lower middle and equal
    bit for bit to the talk's one-liner); NaN when m = 0. zero_frac: exact zeros / numel. l2: the tensor's
    L2 norm, summed in float64. A tensor holding a NaN is NaN in every column. Half and bfloat16 are
    read as float32."""
    if not grads:
        return torch.empty(0, len(STATS))
    lib = _on_cpu(grads)
    bits, zeros, count, l2 = _cpu(grads, lib) if lib else _sorted(grads)
    # log10 of the picks as one contiguous tensor: the same kernel, hence the same bits, as the one-liner's
    logs = bits.view(torch.float32).log10()
    # into STATS' order by slices: a list as an index is sent to the device first, which waits for a GPU
    logs = torch.cat([logs[:, _MEDIAN:_MEDIAN + 1], logs[:, :_MEDIAN], logs[:, _MEDIAN + 1:]], 1)
    table = torch.cat([logs, (zeros / count).unsqueeze(1), l2.float().unsqueeze(1)], 1)
    table[:, :5].masked_fill_((zeros == count).unsqueeze(1), float("nan"))
    return table.masked_fill_(l2.isnan().unsqueeze(1), float("nan"))


@torch.no_grad()
def global_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The unclipped L2 norm of the whole gradient (clip_grad_norm_'s total), summed in float64; 0-d
    float32 on the grads' device."""
    if not grads:
        return torch.zeros(())
    lib = _on_cpu(grads)
    if lib:
        ss = torch.empty(len(grads), dtype=torch.float64)
        native.call(lib.sum_squares, grads, ss)
        return ss.sum().sqrt().float()
    norms = torch._foreach_norm([g.detach() for g in grads], 2, dtype=torch.float64)
    return torch.linalg.vector_norm(torch.stack(norms)).float()
