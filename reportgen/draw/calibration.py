"""`reportgen calibrate --plot`: the gradient diagram at initialisation before and after the multiplier."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..store.io import write_bytes
from .style import Style


def plot(result, out: Path, style: Style | None = None) -> Path:
    """The two diagrams of a compute.calibrate.Calibration side by side on the same axes, as a PNG."""
    style = style or Style()
    fig, axes = style.figure(ncols=2, sharey=True)
    finite = np.concatenate([d[np.isfinite(d)] for d in (result.before, result.after)])
    for ax, medians, m in zip(axes, (result.before, result.after), (result.model.multiplier, result.multiplier)):
        ax.plot(np.arange(1, len(medians) + 1), medians, marker="o", markersize=3 if len(medians) < 40 else 0,
                color=style.colors[0], linewidth=2)
        ax.set_title(f"multiplier {m:.3g}: span {result.span(medians):+.1f} orders")
        ax.set_xlabel("layer (input → output)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("median log₁₀ |gradient| of the weights")
    axes[0].set_ylim(np.floor(finite.min()) - 1, np.ceil(finite.max()) + 1)
    fig.suptitle(f"At initialisation: {result.model.depth} layers of {result.model.activation!r}, "
                 f"width {result.model.width}")
    buf = io.BytesIO()  # drawn whole first: a full disk must not leave half a PNG
    fig.savefig(buf, format="png")
    write_bytes(Path(out), buf.getvalue())
    return Path(out)
