"""Sharpness over training: the Hessian's top eigenvalue against the stability limit, and its trace."""
from __future__ import annotations

import numpy as np

from ..style import Style
from ...store.rundir import Run
from . import Skipped, figure
from .gradient_diagram import outline

FRAMES = 60   # the GIF reveals the run in at most this many frames
WHAT = {"sgd": ("λ_max of the Hessian", "2/η (SGD; (2+2β)/η with momentum β)"),
        "adam": ("preconditioned sharpness λ_max(P⁻¹H)", "(2+2β₁)/((1−β₁)η) (Adam: 38/η at β₁ = 0.9)"),
        "other": ("λ_max of the Hessian", "")}


def measured(run: Run) -> dict:
    e = run.epochs()
    if not e.get("sharp_step", np.zeros(0)).size:
        raise Skipped(f"{run.path.name}: no sharpness measured")
    steps = e["sharp_step"]
    status = run.status
    keep = steps < status["step"] if status["state"] == "diverged" else np.ones(len(steps), bool)
    return {k: e[k][keep] for k in ("sharp_step", "sharp", "sharp_limit", "trace", "trace_se")}


@figure("sharpness", title="Sharpness", requires=("sharpness",), caption="""
    Left: the sharpness, the top eigenvalue of the training loss's Hessian on a fixed batch (Lanczos on
    Hessian-vector products), against the step; the dashed line is the stability limit: a quadratic with a
    curvature above it makes the optimizer's step overshoot and grow. Full-batch gradient descent sharpens
    until it reaches 2/η and then hovers there: the edge of stability (Cohen et al. 2021). For Adam the curve is
    the preconditioned sharpness, the top eigenvalue of P⁻¹H with P = diag(√v̂ + ε), against its own limit
    (2+2β₁)/((1−β₁)η) (Cohen et al. 2022); the heading says which one is drawn. Right: the Hessian's trace
    (Hutchinson's estimate, its standard error as a band), the curvature summed over all directions.""")
class SharpnessCurve:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        d = self.d = measured(run)
        if not len(d["sharp_step"]):
            raise Skipped(f"{run.path.name}: no sharpness measured before it diverged")
        self.what, limit_words = WHAT[run.instruments.get("sharpness", "other")]
        self.title = run.config.title or run.config.name
        n = len(d["sharp_step"])
        self.ends = np.unique(np.linspace(1, n, min(FRAMES, n)).round().astype(int))
        self.n_frames = len(self.ends)
        has_trace = np.isfinite(d["trace"]).any()
        self.fig, axes = style.figure(ncols=2 if has_trace else 1, **({"gridspec_kw": {"width_ratios": (3, 2)}}
                                                                      if has_trace else {}))
        ax = axes[0] if has_trace else axes
        c, x = style.colors, d["sharp_step"]
        finite = lambda v: v[np.isfinite(v)]  # noqa: E731
        top = max([*finite(d["sharp"]), *finite(d["sharp_limit"]), 1e-12])
        ax.set_ylim(0, 1.25 * top)
        ax.set_xlim(x[0] - 0.5, x[-1] + 0.5 if len(x) > 1 else x[0] + 1)
        limit = np.where(np.isfinite(d["sharp_limit"]), d["sharp_limit"], np.nan)
        if np.isfinite(limit).any():
            ax.plot(x, limit, color=c[1], linestyle="--", linewidth=2, label=f"stability limit {limit_words}")
        self.line, = ax.plot([], [], color=c[0], linewidth=2, marker="o", markersize=3 if n < 80 else 0,
                             label=self.what, animated=True)
        ax.set_xlabel("step")
        ax.set_ylabel("sharpness")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
        self.trace = None
        if has_trace:
            tr = axes[1]
            lo, hi = d["trace"] - d["trace_se"], d["trace"] + d["trace_se"]
            tr.set_xlim(*ax.get_xlim())
            tr.set_ylim(min(0, np.nanmin(lo)), 1.1 * np.nanmax(hi))
            tr.set_xlabel("step")
            tr.set_ylabel("trace of the Hessian")
            tr.grid(True, alpha=0.3)
            self.trace, = tr.plot([], [], color=c[2], linewidth=2, animated=True, label="Hutchinson ± 1 s.e.")
            self.band = tr.fill_between(x, 0, 0, color=c[2], alpha=0.25, linewidth=0, animated=True)
            tr.legend(loc="upper left", fontsize="small")
        self.fig.suptitle(self.title, x=0.01, ha="left", fontsize="medium" if len(self.title) > 60 else "large")
        self.heading = ax.set_title(" ", loc="left", fontsize="medium")
        self.heading.set_animated(True)

    def label(self, i: int) -> str:
        return f"step {self.d['sharp_step'][self.ends[i] - 1]}"

    def update(self, i: int) -> None:
        d, k = self.d, self.ends[i]
        self.line.set_data(d["sharp_step"][:k], d["sharp"][:k])
        if self.trace is not None:
            self.trace.set_data(d["sharp_step"][:k], d["trace"][:k])
            x, lo, hi = d["sharp_step"][:k], (d["trace"] - d["trace_se"])[:k], (d["trace"] + d["trace_se"])[:k]
            self.band.set_verts([outline(x, lo, hi)])
        value, limit = d["sharp"][k - 1], d["sharp_limit"][k - 1]
        ratio = f" = {value / limit:.2f} × the limit" if np.isfinite(value) and np.isfinite(limit) and limit else ""
        self.heading.set_text(f"{self.label(i)}: λ_max {value:.3g}{ratio}")
