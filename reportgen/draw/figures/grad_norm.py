"""The unclipped global gradient norm against step, and its histogram over the run (the tuning playbook's plots)."""
from __future__ import annotations

import numpy as np
from matplotlib import ticker

from ..style import Style
from ...store.rundir import Run
from . import figure

FRAMES = 60     # the GIF reveals the run in this many steps (fewer for a shorter run)
BINS = 40
POINTS = 400    # the running median is drawn through this many points


def norms(run: Run) -> dict:
    """Steps and their norms (up to where a diverged run stopped), the clipping threshold (None: off) and
    which steps it clipped."""
    e = run.epochs()
    keep = np.isfinite(e["grad_norm"]) & (e["grad_norm"] > 0)
    clip = e.get("epoch_clip", np.array([np.nan]))
    threshold = float(clip[np.isfinite(clip)][-1]) if np.isfinite(clip).any() else None
    clipped = e.get("clipped", np.zeros(len(keep), bool))
    return {"step": e["step"][keep], "norm": e["grad_norm"][keep].astype(np.float64),
            "clipped": clipped[keep], "threshold": threshold}


def running_median(x: np.ndarray, window: int, points: int = POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At up to `points` indices, the median of the `window` values ending there (fewer at the start)."""
    at = np.unique(np.linspace(0, len(x) - 1, min(points, len(x))).round().astype(int))
    return at, np.array([np.median(x[max(0, i - window + 1):i + 1]) for i in at])


@figure("grad_norm", title="Gradient norm", requires=("metrics",), caption="""
    Left: the L2 norm of the whole gradient at every step, before any clipping (log scale), with its
    running median; right: how often each size occurred over the run. The dashed line is the 90th
    percentile, where the tuning playbook suggests clipping; a solid line is the clipping threshold the
    run used. Spikes well above the bulk are instability; clipping more than half of the steps is a
    learning-rate cut in disguise.""")
class GradNorm:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        d = self.d = norms(run)
        if not len(d["norm"]):
            raise ValueError(f"{run_path}: no finite gradient norm recorded")
        self.title = run.config.title or run.config.name
        n = len(d["norm"])
        self.ends = np.unique(np.linspace(1, n, min(FRAMES, n)).round().astype(int))
        self.n_frames = len(self.ends)
        self.fig, (ax, hist) = style.figure(ncols=2, sharey=True, gridspec_kw={"width_ratios": (3, 1)})
        lo, hi = np.log10(d["norm"].min()), np.log10(d["norm"].max())
        pad = max(0.1, 0.05 * (hi - lo))
        self.edges = np.logspace(lo - pad, hi + pad, BINS + 1)
        ax.set_yscale("log")
        ax.set_ylim(self.edges[0], self.edges[-1] * 10 ** (0.3 * (hi - lo + 2 * pad)))  # room for the legend
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}" if hi - lo < 1 else ""))
        ax.set_xlim(d["step"][0] - 0.5, d["step"][-1] + 0.5)
        ax.set_xlabel("step")
        ax.set_ylabel("gradient norm (unclipped)")
        ax.grid(True, which="major", alpha=0.3)
        c = style.colors
        self.raw, = ax.plot([], [], color=c[0], linewidth=0.8, alpha=0.45, animated=True, label="per step")
        self.median = running_median(d["norm"], max(3, n // 25))
        self.smooth, = ax.plot([], [], color=c[0], linewidth=2, animated=True, label="running median")
        self.p90 = [a.axhline(1, color=c[3], linestyle="--", linewidth=1.5, animated=True) for a in (ax, hist)]
        self.p90[0].set_label("90th percentile")
        if d["threshold"] is not None:
            for a in (ax, hist):
                a.axhline(d["threshold"], color=c[1], linewidth=2, label="clipping threshold")
        ax.legend(loc="upper left", ncols=2, fontsize="small")
        counts_all, _ = np.histogram(d["norm"], self.edges)
        self.bars = hist.barh(self.edges[:-1], np.zeros(BINS), height=np.diff(self.edges), align="edge",
                              color=c[0], alpha=0.7)
        for bar in self.bars:
            bar.set_animated(True)
        hist.set_xlim(0, counts_all.max() * 1.1)
        hist.set_xlabel("steps")
        hist.grid(True, axis="x", alpha=0.3)
        self.note = hist.text(0.97, 0.98, "", transform=hist.transAxes, ha="right", va="top", fontsize="small",
                              animated=True, bbox={"facecolor": style.bg, "edgecolor": "none", "alpha": 0.85})
        self.heading = ax.set_title("", loc="left")
        self.heading.set_animated(True)
        self.warn, self.fg = c[1], style.fg

    def label(self, i: int) -> str:
        return f"step {self.d['step'][self.ends[i] - 1]}"

    def update(self, i: int) -> None:
        d, k = self.d, self.ends[i]
        seen = d["norm"][:k]
        self.raw.set_data(d["step"][:k], seen)
        at, median = self.median
        self.smooth.set_data(d["step"][at[at < k]], median[at < k])
        p90 = float(np.quantile(seen, 0.9))
        for line in self.p90:
            line.set_ydata([p90, p90])
        counts, _ = np.histogram(seen, self.edges)
        for bar, count in zip(self.bars, counts):
            bar.set_width(count)
        lines = [f"90th percentile {p90:.3g}", f"would clip {np.mean(seen > p90):.0%} of steps"]
        share = np.mean(d["clipped"][:k]) if d["threshold"] is not None else 0.0
        if d["threshold"] is not None:
            lines.append(f"clipped at {d['threshold']:.3g}: {share:.0%}")
        if share > 0.5:
            lines.append("over half: a learning-\nrate cut in disguise")
        self.note.set_text("\n".join(lines))
        self.note.set_color(self.warn if share > 0.5 else self.fg)
        self.heading.set_text(f"{self.title} — gradient norm, {self.label(i)}")
