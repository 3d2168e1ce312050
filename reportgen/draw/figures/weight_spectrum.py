"""The singular values of every weight matrix of a training run, one frame per weight snapshot."""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from ...store.io import read_npy
from ...store.rundir import Run
from ..style import Style
from . import figure


def spectra(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Singular values, largest first, of every weight with 2+ dims (a conv kernel as [out, in·kh·kw]); numpy,
    not torch: figures run in forked render workers, where torch's OpenMP pool can hang."""
    return {name: np.linalg.svd(w.reshape(len(w), -1).astype(np.float64), compute_uv=False)
            for name, w in weights.items() if w.ndim >= 2}


def spectra_by_snapshot(run: Run) -> tuple[list[int], list[str], np.ndarray]:
    """Snapshot steps, the weight matrices' names, and their singular values [S, L, K] (NaN past a matrix's k),
    each matrix cut out of the flat snapshot by the shapes in params.json (a conv kernel as [out, in·kh·kw])."""
    params = run.params
    ends = np.cumsum([p["numel"] for p in params])
    steps, rows = [], []
    for step, path in run.trajectory():
        flat = read_npy(path)
        weights = {p["name"]: flat[end - p["numel"]:end].reshape(p["shape"]) for p, end in zip(params, ends)}
        rows.append(spectra(weights))
        steps.append(step)
    names = list(rows[0])
    k = max(len(s) for s in rows[0].values())
    values = np.full((len(rows), len(names), k), np.nan)
    for i, row in enumerate(rows):
        for j, name in enumerate(names):
            values[i, j, :len(row[name])] = row[name]
    return steps, names, values


@figure("weight_spectrum", title="Weight spectra", requires=("trajectory",), caption="""
    Each frame is one snapshot of the weights. Left: the singular values of every weight matrix, largest
    first, one line a layer coloured from the input (dark) to the output (yellow); a flat line is a matrix
    that stretches every direction alike, a steep drop one that has learned a few strong directions. Right:
    the largest singular value of each layer (its spectral norm, how much it can stretch a vector), now and,
    faint, at initialisation.""")
class WeightSpectrum:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        self.steps, names, self.values = spectra_by_snapshot(run)
        status = run.status
        self.per_epoch = status["step"] / max(status["epoch"], 1)
        self.n_frames = len(self.steps)
        self.fig, (ax, norms) = style.figure(ncols=2, gridspec_kw={"width_ratios": (1.6, 1)})
        self.fig.suptitle(run.config.title or run.config.name)
        colors = colormaps["viridis"](np.linspace(0, 0.9, len(names)))
        rank = np.arange(1, self.values.shape[2] + 1)
        self.lines = [ax.plot(rank, self.values[0, j], color=c, linewidth=1.4, animated=True)[0]
                      for j, c in enumerate(colors)]
        finite = self.values[np.isfinite(self.values) & (self.values > 0)]
        ax.set_yscale("log")
        ax.set_ylim(finite.min() / 1.5, finite.max() * 1.5)
        norms.set_ylim(0, 1.1 * np.nanmax(self.values[:, :, 0]))
        for a in (ax, norms):
            a.grid(True, alpha=0.3)
        ax.set_xlim(1, rank[-1])
        ax.set_xlabel("index i (largest first)")
        ax.set_ylabel("singular value σᵢ")
        layer = np.arange(1, len(names) + 1)
        norms.plot(layer, self.values[0, :, 0], color=style.fg, alpha=0.3, marker="o", markersize=3,
                   label="at initialisation")
        self.norm = norms.scatter(layer, self.values[0, :, 0], c=colors, s=30, zorder=3, animated=True)
        (self.norm_line,) = norms.plot(layer, self.values[0, :, 0], color=style.fg, linewidth=1, animated=True)
        norms.set_xlabel("layer (input → output)")
        norms.set_ylabel("largest singular value σ₁")
        norms.legend(loc="lower left", fontsize="small")
        self.words = ax.set_title(" ", loc="left", fontsize="medium")
        self.words.set_animated(True)

    def label(self, i: int) -> str:
        return f"step {self.steps[i]}"

    def update(self, i: int) -> None:
        for line, values in zip(self.lines, self.values[i]):
            line.set_ydata(values)
        top = self.values[i, :, 0]
        self.norm.set_offsets(np.column_stack([np.arange(1, len(top) + 1), top]))
        self.norm_line.set_ydata(top)
        self.words.set_text(f"singular values of the weights, {self.label(i)} "
                            f"(epoch {self.steps[i] / self.per_epoch:.2f})")
