"""How large the gradients are at every layer, one frame per epoch (the vanishing-gradient talk's picture)."""
from __future__ import annotations

import warnings

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..style import Style
from ...store.rundir import STATS, Run
from . import Skipped, figure

MEDIAN, Q25, Q75 = (STATS.index(s) for s in ("median", "q25", "q75"))


def layer_positions(params: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """x position of every tensor (its module's order in the network) and whether it is a bias."""
    modules = [p["name"].rsplit(".", 1)[0] for p in params]
    order = {m: i + 1 for i, m in enumerate(dict.fromkeys(modules))}
    return np.array([order[m] for m in modules]), np.array([len(p["shape"]) == 1 for p in params])


def by_frame(run: Run, per_step: bool = False) -> dict[str, np.ndarray]:
    """Gradient statistics [F, P, K] per frame: the median over each epoch's logged steps (or every
    logged step), cut at the step where a diverged run stopped, with the loss and accuracy to show."""
    e = run.epochs()
    status = run.status
    last = status["step"] if status["state"] == "diverged" else None
    keep = e["grad_step"] < last if last else slice(None)
    grad, grad_step, epoch_of = e["grad"][keep], e["grad_step"][keep], e["grad_epoch"][keep]
    if not len(grad_step):
        raise Skipped(f"{run.path.name}: no gradient logged before it diverged at step {last}")
    steps, loss, acc = e["step"], e["loss"], e["accuracy"]
    if per_step:
        at = np.searchsorted(steps, grad_step)
        return {"grad": grad, "label": grad_step, "unit": "step", "loss": loss[at], "accuracy": acc[at],
                "step": grad_step}
    end = e["epoch_end"]  # epoch k holds the steps at [end[k - 2], end[k - 1]): epochs may differ in length
    epochs = np.unique(epoch_of)
    starts, ends = np.append(0, end)[epochs - 1], end[epochs - 1] - 1
    with warnings.catch_warnings():  # all NaN (a tensor never non-zero, a loop that gave no accuracy): NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return {"grad": np.stack([np.nanmedian(grad[epoch_of == k], axis=0) for k in epochs]), "label": epochs,
                "unit": "epoch", "step": steps[ends],
                "loss": np.array([np.nanmean(loss[a:b + 1]) for a, b in zip(starts, ends)]),
                "accuracy": np.array([np.nanmean(acc[a:b + 1]) for a, b in zip(starts, ends)])}


def stopped(run: Run) -> str:
    """What the last frame of a diverged run says instead of its loss; "" for any other run."""
    status = run.status
    return f"diverged at step {status['step']}" if status["state"] == "diverged" else ""


def frame_words(d: dict, i: int, stop: str = "") -> str:
    """What a frame's title says after its epoch: loss and accuracy, or on a diverged run's last frame `stop`."""
    if stop and i == len(d["label"]) - 1:
        return stop
    acc = d["accuracy"][i]  # NaN: a recorded loop that gave no accuracy
    return f"loss {d['loss'][i]:.3g}" + (f", train accuracy {100 * acc:.1f} %" if np.isfinite(acc) else "")


def outline(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The polygon of a band between `lo` and `hi` over `x`, for a fill_between's set_verts."""
    return np.concatenate([np.column_stack([x, lo]), np.column_stack([x[::-1], hi[::-1]])])


def y_limits(grad: np.ndarray, columns=(MEDIAN, Q25, Q75)) -> tuple[float, float]:
    """Fixed limits for every frame: the whole run's spread of finite values of `columns`, padded."""
    values = grad[..., list(columns)]
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return -10.0, 0.0
    lo, hi = float(finite.min()), float(finite.max())
    pad = max(0.5, 0.06 * (hi - lo))
    return np.floor(lo - pad), np.ceil(hi + pad)


@figure("gradient_diagram", title="Gradient diagram", requires=("gradients",), caption="""
    Each frame is one epoch (with <code>per_step=True</code>, one logged step). Along x, the layers in network order, input on the left; along y, the size
    of the gradient as log<sub>10</sub>|g|: the median over the tensor's non-zero entries (line) and its
    25–75&nbsp;% spread (band), weights and biases drawn apart. A line sloping down to the left means the
    gradient fades on its way back to the input: every step of one on the y axis is a factor of ten.""")
class GradientDiagram:
    def __init__(self, run_path: str, style: Style, per_step: bool = False, loss_panel: bool = True):
        run = Run(run_path)
        self.data = by_frame(run, per_step)
        x, is_bias = layer_positions(run.params)
        self.n_frames = len(self.data["label"])
        self.title = run.config.title or run.config.name
        panels = dict(ncols=2, gridspec_kw={"width_ratios": (3, 1)}) if loss_panel else {}
        self.fig, axes = style.figure(**panels)
        ax = axes[0] if loss_panel else axes
        self.ax, self.style = ax, style
        ax.set_xlim(x.min() - 0.5, x.max() + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # layers are counted
        ax.set_ylim(*y_limits(self.data["grad"]))
        ax.set_xlabel("layer (input → output)")
        ax.set_ylabel("log₁₀ |gradient|")
        ax.grid(True, alpha=0.3)
        self.series = []
        for bias, color, label in ((False, style.colors[0], "weights"), (True, style.colors[1], "biases")):
            sel = np.flatnonzero(is_bias == bias)
            if sel.size == 0:
                continue
            band = ax.fill_between(x[sel], 0, 0, color=color, alpha=0.25, linewidth=0, animated=True)
            (line,) = ax.plot(x[sel], np.zeros(sel.size), color=color, label=label, marker="o",
                              markersize=3 if sel.size < 40 else 0, linewidth=2, animated=True)
            self.series.append((sel, x[sel], band, line))
        ax.legend(loc="upper right")
        self.heading = ax.set_title(" ", loc="left")
        self.heading.set_animated(True)  # only what moves is redrawn over the cached background
        self.stop = stopped(run)
        self.loss_panel = axes[1] if loss_panel else None
        if loss_panel:
            self._draw_loss(axes[1])

    def _draw_loss(self, ax):
        d = self.data
        ax.plot(d["label"], d["loss"], color=self.style.colors[0], label="loss")
        ax.set_xlabel(d["unit"])
        ax.set_ylabel("training loss")
        ax.grid(True, alpha=0.3)
        finite = d["loss"][np.isfinite(d["loss"])]
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
            ax.set_yscale("log")
        elif finite.size and finite.min() >= 0:
            ax.set_ylim(0, finite.max() * 1.05)  # from zero: a flat loss must look flat, not zoomed into noise
        self.cursor = ax.axvline(d["label"][0], color=self.style.colors[2], linewidth=2, animated=True)

    def label(self, i: int) -> str:
        return f"{self.data['unit']} {self.data['label'][i]}"

    def update(self, i: int) -> None:
        d = self.data
        g = d["grad"][i]
        for sel, x, band, line in self.series:
            line.set_ydata(g[sel, MEDIAN])
            band.set_verts([outline(x, g[sel, Q25], g[sel, Q75])])
        if self.loss_panel is not None:
            self.cursor.set_xdata([d["label"][i], d["label"][i]])
        self.heading.set_text(f"{self.title} — {self.label(i)}, " + frame_words(d, i, self.stop))
