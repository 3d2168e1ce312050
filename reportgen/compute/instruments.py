"""Update/weight ratios and activation health at the logged steps, kept on the device like the step log."""
from __future__ import annotations

import torch
from torch import nn

from ..store.rundir import ACTS

# which activation modules are hooked, and what "dead" and "saturated" mean for each kind
RELU_FAMILY = (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
               nn.Mish)
SATURATING = (nn.Tanh, nn.Sigmoid)
SATURATED = 0.97  # |tanh| above this, or a sigmoid within 0.03 of 0 or 1: the unit's gradient is < 6 % of its peak
MEDIAN_SAMPLE = 1 << 12   # median |a| over at most this many entries of a batch, evenly strided (exact below):
                          # the sort it takes costs ~2 ms per layer of 32k entries on a CPU core, ~0.2 ms at 4k


class Updates:
    """‖Δw‖ / ‖w‖ per parameter tensor for one optimizer step: `before()` on a logged step, before the optimizer
    steps; `after()` once it has (or at the next call), on the device: [P] float32 (w: the weights the step
    was applied to; NaN/inf where ‖w‖ = 0)."""

    def __init__(self, params: list[torch.Tensor]):
        self.params, self.saved, self.norms = params, None, None

    @torch.no_grad()
    def before(self) -> None:
        self.saved = [p.detach().clone() for p in self.params]
        self.norms = torch.stack(torch._foreach_norm(self.saved, 2)).float()

    @property
    def pending(self) -> bool:
        return self.saved is not None

    @torch.no_grad()
    def after(self) -> torch.Tensor:
        torch._foreach_sub_(self.saved, [p.detach() for p in self.params])
        ratio = torch.stack(torch._foreach_norm(self.saved, 2)).float() / self.norms
        self.saved = self.norms = None
        return ratio


def activation_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's activation modules (ReLU family and saturating ones), in the order they were registered."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, RELU_FAMILY + SATURATING)]


def kind(module: nn.Module) -> str:
    return "relu" if isinstance(module, RELU_FAMILY) else "saturating"


@torch.no_grad()
def health(a: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """[len(ACTS)] of one output: the median |a| over its non-zero entries (a ReLU's zeros would make it 0; NaN
    when all are zero; the lower middle, as torch.median) among MEDIAN_SAMPLE evenly strided ones, the fraction of exact zeros, the fraction saturated
    (NaN unless Tanh or Sigmoid). On the device, no host sync."""
    a = a.detach().float()
    flat = a.reshape(-1)
    stride = max(1, flat.numel() // MEDIAN_SAMPLE)
    sample = flat[::stride].abs().sort().values   # the zeros lead
    zero = (sample == 0).sum()
    at = (zero + (sample.numel() - zero - 1).clamp(min=0) // 2).clamp(max=sample.numel() - 1)
    median = sample[at].masked_fill(zero == sample.numel(), float("nan"))
    zeros = (flat == 0).float().mean()
    if isinstance(module, nn.Tanh):
        saturated = (flat.abs() > SATURATED).float().mean()
    elif isinstance(module, nn.Sigmoid):
        saturated = ((flat - 0.5).abs() > SATURATED - 0.5).float().mean()
    else:
        saturated = torch.full((), float("nan"), device=a.device)
    return torch.stack([median, zeros, saturated])


class Activations:
    """Forward hooks on the model's activation modules. While `armed` (the forward of a logged training step),
    each keeps its output's health (`health`; with several forwards per step, the last one's) and ORs which
    units (entries past the batch axis) were positive; `dead()` then gives, per layer, the fraction of
    units never positive over the armed batches since the last call (NaN for saturating kinds)."""

    def __init__(self, model: nn.Module):
        found = activation_modules(model)
        self.names = [n for n, _ in found]
        self.kinds = [kind(m) for _, m in found]
        self.armed = False
        self.latest: list[torch.Tensor | None] = [None] * len(found)
        self.alive: list[torch.Tensor | None] = [None] * len(found)
        self.handles = [m.register_forward_hook(self._hook(i)) for i, (_, m) in enumerate(found)]

    def _hook(self, i: int):
        def hook(module, inputs, output):
            if not self.armed or not module.training or not isinstance(output, torch.Tensor):
                return
            self.latest[i] = health(output, module)
            if self.kinds[i] == "relu":
                # the max over the batch, then one comparison: a bool any(0) over the batch is ~30x slower on the CPU
                out = output.detach()
                positive = out.flatten(1).amax(0) > 0 if out.dim() > 1 else out > 0
                self.alive[i] = positive if self.alive[i] is None or self.alive[i].shape != positive.shape \
                    else self.alive[i] | positive
        return hook

    def take(self) -> torch.Tensor:
        """[L, len(ACTS)] of the armed forward (NaN for a layer it did not reach), on the device."""
        device = next((t.device for t in self.latest if t is not None), torch.device("cpu"))
        nan = torch.full((len(ACTS),), float("nan"), device=device)
        table = torch.stack([t if t is not None else nan for t in self.latest]) if self.latest \
            else torch.empty(0, len(ACTS), device=device)
        self.latest = [None] * len(self.latest)
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
