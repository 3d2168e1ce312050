"""The weight multiplier that makes the gradient diagram flat at initialisation, searched for in seconds."""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from .. import declare as spec
from ..store.rundir import STATS
from . import data, models
from .stats import grad_stats

MEDIAN, L2 = STATS.index("median"), STATS.index("l2")
GROWTH = 1.5  # how far the bracket widens each time the root is not inside it yet


@dataclass(frozen=True)
class Calibration:
    """The multiplier found and the diagrams (median log10|g| of every weight, input to output) with the
    model's own multiplier (`before`) and with the one found (`after`)."""
    model: spec.MLP
    multiplier: float
    before: np.ndarray
    after: np.ndarray

    @staticmethod
    def span(medians: np.ndarray) -> float:
        """Orders of magnitude the gradient rises from the first layer to the last, along a straight line
        fitted through the diagram (steadier than the two end points alone)."""
        return slope(medians) * (len(medians) - 1)

    def summary(self) -> str:
        m = self.model
        return (f"multiplier {self.multiplier:.3g} for {m.depth} layers of {m.activation!r}, width {m.width}: "
                f"from the first layer to the last the gradient rises {self.span(self.before):+.1f} orders of "
                f"magnitude with multiplier {m.multiplier:g}, {self.span(self.after):+.1f} with {self.multiplier:.3g}")


def diagram(model: spec.MLP, x: torch.Tensor, y: torch.Tensor, classes: int, seed: int = 0) -> np.ndarray:
    """Median log10|g| of every weight tensor, input to output, after one backward pass at initialisation.
    +inf where a gradient overflowed, -inf where it was exactly zero (underflow): the search needs both."""
    torch.manual_seed(seed)  # the same initial weights for every multiplier: the search sees a smooth curve
    net = models.build(model, tuple(x.shape[1:]), classes)
    F.cross_entropy(net(x), y).backward()
    weights = [p.grad for p in net.parameters() if p.ndim > 1]
    table = grad_stats(weights).double().numpy()
    medians, norms = table[:, MEDIAN], table[:, L2]
    return np.where(np.isfinite(norms), np.where(norms > 0, medians, -np.inf), np.inf)


def slope(medians: np.ndarray) -> float:
    """Orders of magnitude per layer of a straight line through the diagram (< 0: larger at the input)."""
    if np.isposinf(medians).any():
        return -math.inf
    if np.isneginf(medians).any():
        return math.inf
    return float(np.polyfit(np.arange(len(medians)), medians, 1)[0])


def calibrate(model: spec.MLP, dataset: spec.Data = spec.Synthetic(n_train=128, n_test=1), batch: int = 128,
              seed: int = 0, orders: float = 0.5, rtol: float = 5e-3) -> Calibration:
    """The smallest multiplier whose diagram rises by at most `orders` from input to output (along a line
    fitted through it), to a factor 1 + rtol, by bisection on log(multiplier). Why the smallest: past that
    point the diagram stays about flat but its level climbs with the multiplier, until the forward pass
    overflows; a linear network never gets exactly flat. The search starts at the talk's rule of thumb,
    10^(orders lost / depth) times the model's own multiplier."""
    ds = data.load(dataset)
    x, y, classes = ds.x_train[:batch], ds.y_train[:batch], len(ds.classes)

    @functools.lru_cache(maxsize=None)
    def flat(m: float) -> bool:
        return Calibration.span(diagram(replace(model, multiplier=m), x, y, classes, seed)) <= orders

    before = diagram(model, x, y, classes, seed)
    lo = hi = model.multiplier * 10 ** min(max(slope(before), -2), 2)
    for _ in range(60):
        if flat(hi) and not flat(lo):
            break
        lo, hi = (lo / GROWTH if flat(lo) else lo), (hi if flat(hi) else hi * GROWTH)
    else:
        raise spec.SpecError(f"calibrate: no multiplier between {lo:.3g} and {hi:.3g} makes the gradient of "
                             f"{model!r} flat")
    while hi / lo > 1 + rtol:
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if flat(mid) else (mid, hi)
    return Calibration(model, hi, before, diagram(replace(model, multiplier=hi), x, y, classes, seed))
