"""Update/weight ratios and activation health at the logged steps, kept on the device like the step log."""
from __future__ import annotations

import ctypes
import functools
import math

import torch
from torch import nn

from ..store.rundir import ACTS
from . import native

# which activation modules are hooked, and what "dead" and "saturated" mean for each kind
RELU_FAMILY = (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
               nn.Mish)
SATURATING = (nn.Tanh, nn.Sigmoid)
SATURATED = 0.97  # |tanh| above this, or a sigmoid within 0.03 of 0 or 1: the unit's gradient is < 6 % of its peak
MEDIAN_SAMPLE = 1 << 12   # median |a| over at most this many entries of a batch, evenly strided (exact below):
                          # torch's sort of 32k entries costs ~2 ms on a CPU core, of 4k ~0.2 ms, the kernel's
                          # selection in 4k ~10 us


@functools.cache
def _kernel(*flags: str):
    """The CPU passes (kernels/instruments.cpp), built once per machine; None, with a warning, without a compiler."""
    lib = native.build("instruments", "the instruments fall back to torch's ops", *flags)
    if lib:
        ptr, i64 = ctypes.c_void_p, ctypes.c_int64
        lib.keep.argtypes = [ctypes.c_int, ptr, ptr, ptr, ctypes.c_int, ptr]
        lib.step_squares.argtypes = [ctypes.c_int, ptr, ptr, ptr, ctypes.c_int, ptr, ptr, ptr, ctypes.c_int]
        lib.health.argtypes = [ptr, i64, i64, i64, ctypes.c_int, ctypes.c_float, ptr, ptr]
    return lib


def _on_cpu(t: torch.Tensor) -> ctypes.CDLL | None:
    return _kernel() if t.is_cpu else None


class Updates:
    """‖Δw‖ / ‖w‖ per parameter tensor for one optimizer step: `before()` on a logged step, before the optimizer
    steps; `after()` once it has (or at the next call), on the device: [P] float32 (w: the weights the step
    was applied to; NaN/inf where ‖w‖ = 0). The weights are kept in buffers made once. Float32 weights on the
    CPU are copied by one kernel call and both norms summed (in float64) in one read of the old and the new
    (kernels/instruments.cpp; a clone, a sub and two norms per tensor cost 5x more); others by foreach ops."""

    def __init__(self, params: list[torch.Tensor]):
        self.params, self.saved, self.where, self.lib = params, [], None, None
        self.pending, self.kept = False, None   # kept: the weights' versions when `after(keep=True)` kept them

    def versions(self) -> list[int]:
        return [p._version for p in self.params]   # in-place changes count up, the optimizer's among them

    @torch.no_grad()
    def before(self) -> None:
        """Keep the weights; nothing to do when `after(keep=True)` kept them and none has changed since."""
        self.pending = True
        if self.kept is not None and self.kept == self.versions():
            return
        if not self.saved:
            self.saved = [torch.empty_like(p) for p in self.params]
            self.where = native.pointers(self.saved)
        fits = all(p.dtype == torch.float32 and p.is_contiguous() and p.is_cpu for p in self.params)
        self.lib = _kernel() if fits else None
        if self.lib:
            native.call(self.lib.keep, self.params, self.where)
        else:
            torch._foreach_copy_(self.saved, [p.detach() for p in self.params])

    @torch.no_grad()
    def after(self, keep: bool = False) -> torch.Tensor:
        """The step's ratios; with `keep` (the next step is logged too) the same pass keeps the weights for it,
        which saves the next `before()` a read and a write of all of them."""
        self.pending = False
        if self.lib:
            step, was = torch.empty(2, len(self.params), dtype=torch.float64)
            native.call(self.lib.step_squares, self.params, self.where, step, was, int(keep))
            ratio = (step / was).sqrt().float()
        else:
            was = torch.stack(torch._foreach_norm(self.saved, 2))
            torch._foreach_sub_(self.saved, [p.detach() for p in self.params])
            ratio = torch.stack(torch._foreach_norm(self.saved, 2)).float() / was.float()
            if keep:
                torch._foreach_copy_(self.saved, [p.detach() for p in self.params])
        self.kept = self.versions() if keep else None
        return ratio


def activation_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's activation modules (ReLU family and saturating ones), in the order they were registered."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, RELU_FAMILY + SATURATING)]


def kind(module: nn.Module) -> str:
    return "relu" if isinstance(module, RELU_FAMILY) else "saturating"


def saturation(module: nn.Module) -> tuple[int, float]:
    """The kernel's kind of saturation and its limit: Tanh 1, |a| > SATURATED; Sigmoid 2, |a - 0.5| >
    SATURATED - 0.5 (the same float32 comparisons as `health`'s); none 0."""
    return (1, SATURATED) if isinstance(module, nn.Tanh) else (2, SATURATED - 0.5) \
        if isinstance(module, nn.Sigmoid) else (0, 0.0)


@torch.no_grad()
def health(a: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """[len(ACTS)] of one output: the median |a| over its non-zero entries (a ReLU's zeros would make it 0; NaN
    when all are zero; the lower middle, as torch.median) among MEDIAN_SAMPLE evenly strided ones, the fraction
    of exact zeros, the fraction saturated (NaN unless Tanh or Sigmoid). On the device, no host sync; on the
    CPU the kernel gives the same values (`Activations.measure`)."""
    a = a.detach().float()
    flat = a.reshape(-1)
    stride = max(1, flat.numel() // MEDIAN_SAMPLE)
    sample = flat[::stride].abs().sort().values   # the zeros lead
    zero = (sample == 0).sum()
    at = (zero + (sample.numel() - zero - 1).clamp(min=0) // 2).clamp(max=sample.numel() - 1)
    # gather, not sample[at]: a 0-d tensor as an index is read back to the host, which waits for a GPU
    median = sample.gather(0, at.reshape(1))[0].masked_fill(zero == sample.numel(), float("nan"))
    zeros = (flat == 0).float().mean()
    if isinstance(module, nn.Tanh):
        saturated = (flat.abs() > SATURATED).float().mean()
    elif isinstance(module, nn.Sigmoid):
        saturated = ((flat - 0.5).abs() > SATURATED - 0.5).float().mean()
    else:
        saturated = torch.full((), float("nan"), device=a.device)
    return torch.stack([median, zeros, saturated])


def positive(a: torch.Tensor) -> torch.Tensor:
    """Whether each unit (entry past the batch axis; each entry of a vector) was positive in the batch: the max
    over it, then one comparison (a bool any(0) over the batch is ~30x slower on the CPU; a NaN makes the max
    NaN, hence not positive)."""
    return (a.flatten(1).amax(0) if a.dim() > 1 else a.reshape(-1)) > 0


class Activations:
    """Forward hooks on the model's activation modules. While `armed` (the forward of a logged training step),
    each keeps its output's health (`health`; with several forwards per step, the last one's) and ORs which
    units (entries past the batch axis) were positive; `dead()` then gives, per layer, the fraction of
    units never positive over the armed batches since the last call (NaN for saturating kinds)."""

    def __init__(self, model: nn.Module):
        found = activation_modules(model)
        self.names = [n for n, _ in found]
        self.kinds = [kind(m) for _, m in found]
        self.saturation = [saturation(m) for _, m in found]
        self.armed = False
        self.table: torch.Tensor | None = None   # [L, len(ACTS)] of the armed forward, NaN where not reached
        self.alive: list[torch.Tensor | None] = [None] * len(found)
        self.handles = [m.register_forward_hook(self._hook(i)) for i, (_, m) in enumerate(found)]

    def _hook(self, i: int):
        def hook(module, inputs, output):
            if self.armed and module.training and isinstance(output, torch.Tensor):
                self.measure(i, module, output.detach())
        return hook

    def measure(self, i: int, module: nn.Module, a: torch.Tensor) -> None:
        """Row i of the table: health(a); for the ReLU family, OR positive(a) into the layer's units alive. On
        the CPU one kernel pass (kernels/instruments.cpp; torch's ops cost ~10x more), elsewhere torch's ops.
        `a` is detached: no grad mode to enter (~5 us a layer)."""
        if self.table is None:
            self.table = torch.full((len(self.names), len(ACTS)), float("nan"), dtype=torch.float32,
                                    device=a.device)
        units = math.prod(a.shape[1:]) if a.dim() > 1 else a.numel()
        alive = self.alive[i]
        if self.kinds[i] == "relu" and (alive is None or alive.numel() != units or alive.device != a.device):
            alive = self.alive[i] = torch.zeros(units, dtype=torch.bool, device=a.device)
        lib = _on_cpu(a)
        if lib is None:
            self.table[i] = health(a, module)
            if alive is not None:
                alive |= positive(a)
            return
        x = a.float().contiguous()
        lib.health(x.data_ptr(), x.numel() // max(units, 1), units, max(1, x.numel() // MEDIAN_SAMPLE),
                   *self.saturation[i], self.table.data_ptr() + i * len(ACTS) * 4,   # row i, float32
                   None if alive is None else alive.data_ptr())

    def take(self) -> torch.Tensor:
        """[L, len(ACTS)] of the armed forward (NaN for a layer it did not reach), on the device."""
        table = self.table if self.table is not None else torch.full((len(self.names), len(ACTS)), float("nan"),
                                                                     dtype=torch.float32)
        self.table = None
        return table

    def dead(self) -> torch.Tensor:
        """[L] fraction of units never positive since the last call (NaN: saturating, or never seen)."""
        device = next((a.device for a in self.alive if a is not None), torch.device("cpu"))
        nan = torch.full((), float("nan"), device=device)  # made there: a copy from the host would wait for it
        out = [(1 - a.float().mean()) if a is not None else nan for a in self.alive]
        self.alive = [None] * len(self.alive)
        return torch.stack(out) if out else torch.empty(0, device=device)

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
