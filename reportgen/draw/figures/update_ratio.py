"""How far each step moves each tensor relative to its size, ‖Δw‖/‖w‖, per layer and epoch (or as a heatmap)."""
from __future__ import annotations

import warnings

import matplotlib as mpl
import numpy as np
from matplotlib.ticker import MaxNLocator

from ..style import Style
from ...store.rundir import Run
from . import Skipped, figure
from .gradient_diagram import layer_positions
from .gradient_heatmap import epoch_time

GUIDE = 1e-3   # the rule of thumb (Karpathy's cs231n notes): updates about a thousandth of the weights


def per_epoch(values: np.ndarray, epoch_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The median over each epoch's logged steps of `values` [G, ...], ignoring non-finite entries: [E, ...]
    and the epochs."""
    epochs = np.unique(epoch_of)
    with warnings.catch_warnings():   # a layer with no finite value in an epoch: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        finite = np.where(np.isfinite(values), values, np.nan)
        return np.stack([np.nanmedian(finite[epoch_of == k], axis=0) for k in epochs]), epochs


def logged(run: Run, key: str, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """The array `key` [G, ...] at the logged steps, those steps and their epochs, cut where a diverged run
    stopped, and the run's epochs; Skipped when there is none."""
    e = run.epochs()
    if not e.get(key, np.zeros(0)).size:
        raise Skipped(f"{run.path.name}: no {what} logged")
    status = run.status
    keep = e["grad_step"] < status["step"] if status["state"] == "diverged" else slice(None)
    if not len(e["grad_step"][keep]):
        raise Skipped(f"{run.path.name}: no {what} logged before it diverged")
    return e[key][keep], e["grad_step"][keep], e["grad_epoch"][keep], e


def ratios(run: Run) -> dict:
    update, steps, epoch_of, e = logged(run, "update", "update ratio")
    frames, epochs = per_epoch(update, epoch_of)
    return {"steps": steps, "update": update, "frames": frames, "epochs": epochs,
            "epoch_steps": e["step"][e["epoch_end"] - 1]}


def log_limits(values: np.ndarray) -> tuple[float, float]:
    """Fixed log-scale limits over the whole run, always showing the 1e-3 guide."""
    good = values[np.isfinite(values) & (values > 0)]
    lo, hi = (float(good.min()), float(good.max())) if good.size else (GUIDE, GUIDE)
    return 10 ** np.floor(np.log10(min(lo, GUIDE)) - 0.3), 10 ** np.ceil(np.log10(max(hi, GUIDE)) + 0.3)


@figure("update_ratio", title="Update/weight ratio", requires=("updates",), caption="""
    How far one optimizer step moves each tensor, ‖Δw‖/‖w‖ (log scale): along x the layers, input on the
    left, weights and biases apart; each frame is one epoch, the median over its logged steps. The dashed line
    is the rule of thumb 10<sup>−3</sup>: far below it a layer barely learns, far above it the steps are large
    against the weights. With <code>heatmap=True</code>: layers × training time, coloured by log<sub>10</sub>
    of the ratio, a cursor per epoch.""")
class UpdateRatio:
    def __init__(self, run_path: str, style: Style, heatmap: bool = False):
        run = Run(run_path)
        self.d = ratios(run)
        self.x, is_bias = layer_positions(run.params)
        self.title = run.config.title or run.config.name
        self.n_frames = len(self.d["epochs"])
        self.parts = [(sel, name) for sel, name in ((np.flatnonzero(~is_bias), "weights"),
                                                    (np.flatnonzero(is_bias), "biases")) if sel.size]
        (self._heatmap if heatmap else self._lines)(style)

    def _lines(self, style: Style) -> None:
        self.fig, ax = style.figure()
        ax.set_yscale("log")
        ax.set_ylim(*log_limits(self.d["update"]))
        ax.set_xlim(self.x.min() - 0.5, self.x.max() + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("layer (input → output)")
        ax.set_ylabel("‖Δw‖ / ‖w‖ per step")
        ax.grid(True, which="major", alpha=0.3)
        ax.axhline(GUIDE, color=style.fg, linestyle="--", linewidth=1.2, alpha=0.7, label="10⁻³ rule of thumb")
        self.lines = []
        for (sel, name), color in zip(self.parts, style.colors):
            (line,) = ax.plot(self.x[sel], np.ones(sel.size), color=color, marker="o", linewidth=2, label=name,
                              markersize=3 if sel.size < 40 else 0, animated=True)
            self.lines.append((sel, line))
        ax.legend(loc="upper right")
        self.heading = ax.set_title(" ", loc="left")
        self.heading.set_animated(True)
        self.cursors = []

    def _heatmap(self, style: Style) -> None:
        d = self.d
        n = len(self.parts)
        self.fig, axes = style.figure(ncols=n + 1, gridspec_kw={"width_ratios": [*[1] * n, 0.05]})
        t = epoch_time(d["steps"], d["epoch_steps"])
        self.when = epoch_time(d["epoch_steps"][d["epochs"] - 1], d["epoch_steps"])
        lo, hi = log_limits(d["update"])
        norm = mpl.colors.Normalize(np.log10(lo), np.log10(hi))
        cmap = mpl.colormaps["viridis"].with_extremes(bad="#999999")
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log10(d["update"])
        self.cursors = []
        for ax, (sel, name) in zip(axes, self.parts):
            layers = self.x[sel]
            image = ax.pcolormesh(np.append(0, t), np.append(layers - 0.5, layers[-1] + 0.5),
                                  np.ma.masked_invalid(logs[:, sel].T), cmap=cmap, norm=norm, shading="flat",
                                  rasterized=True)
            ax.set_title(name)
            ax.sharey(axes[0])
            ax.set_xlabel("epoch")
            self.cursors.append(ax.axvline(self.when[0], color="white", linewidth=2, animated=True))
        axes[0].set_ylabel("layer (input at the bottom)")
        axes[0].yaxis.set_major_locator(MaxNLocator(integer=True))
        bar = self.fig.colorbar(image, cax=axes[-1], label="log₁₀ ‖Δw‖/‖w‖")
        bar.ax.axhline(np.log10(GUIDE), color="white", linestyle="--", linewidth=1.5)
        self.heading = self.fig.suptitle(" ", x=0.01, ha="left", animated=True)
        self.lines = []

    def label(self, i: int) -> str:
        return f"epoch {self.d['epochs'][i]}"

    def update(self, i: int) -> None:
        row = self.d["frames"][i]
        for sel, line in self.lines:
            line.set_ydata(row[sel])
        for cursor in self.cursors:
            cursor.set_xdata([self.when[i], self.when[i]])
        weights = row[self.parts[0][0]]
        middle = np.nanmedian(weights) if np.isfinite(weights).any() else np.nan
        self.heading.set_text(f"{self.title} — {self.label(i)}, median ratio of the weights {middle:.2g}")
