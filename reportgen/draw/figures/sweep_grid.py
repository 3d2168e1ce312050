"""A sweep at a glance: the metric over the grid, diverged runs crossed out, and each run's first-layer gradient."""
from __future__ import annotations

import matplotlib as mpl
import numpy as np

from ..style import Style
from ...store.rundir import Run
from ...declare.sweep import METRICS, short
from . import figure


def grid_layout(a: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each run's column (its value of the first field) and row (its combination of the others), and the
    rows' labels."""
    index, fields = a["index"], [str(f) for f in a["fields"]]
    sizes = [len(a[f"labels_{k}"]) for k in range(len(fields))]
    row = np.ravel_multi_index(index[:, 1:].T, sizes[1:]) if len(sizes) > 1 else np.zeros(len(index), int)
    combos = np.array(np.unravel_index(np.arange(int(np.prod(sizes[1:]))), sizes[1:])).T if len(sizes) > 1 else [[]]
    labels = [", ".join(f"{short(fields[k + 1])} {a[f'labels_{k + 1}'][v]}" for k, v in enumerate(c)) for c in combos]
    return index[:, 0], row, labels


def metric_norm(values: np.ndarray, metric: str) -> mpl.colors.Normalize:
    """Fixed colours for every frame over the 5-95 % range of the whole sweep's values, so that one run
    blowing up does not wash out the others (its cells take the end colour, their text says how far);
    a loss spanning more than a factor of 10 on a log scale."""
    finite = values[np.isfinite(values)]
    lo, hi = (float(v) for v in np.percentile(finite, (5, 95))) if finite.size else (0.0, 1.0)
    if metric.endswith("loss") and lo > 0 and hi / lo > 10:
        return mpl.colors.LogNorm(lo, hi)
    return mpl.colors.Normalize(lo, hi if hi > lo else lo + 1e-9)


@figure("sweep_grid", title="Sweep", requires=("metric",), caption="""
    Left: the metric of every run of the sweep at the frame's epoch, one cell per combination; a cross
    marks a run that diverged (its loss became NaN or infinite) from the epoch it did. Right: the median
    log<sub>10</sub>|g| of each run's first layer over training, one line per value of the first swept
    field (in the talk: it wobbles at good settings and collapses at bad ones).""")
class SweepGrid:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        a, sweep = run.arrays(), run.config
        self.a, self.metric = a, sweep.metric
        self.col, self.row, rows = grid_layout(a)
        fields = [str(f) for f in a["fields"]]
        self.n_frames = a["metric"].shape[1]
        self.title = sweep.title or sweep.name
        self.fig = style.figure()[0]
        self.fig.clear()
        outer = self.fig.add_gridspec(1, 2, width_ratios=(1.1, 1))
        heat = self.fig.add_subplot(outer[0])
        lines = outer[1].subgridspec(len(rows), 1, hspace=0.08)
        self._heatmap(heat, style, a["labels_0"], rows, fields)
        self._lines(lines, style, a["labels_0"], rows, fields[0])
        self.heading = self.fig.suptitle(" ", x=0.01, ha="left", animated=True)

    def _heatmap(self, ax, style: Style, columns, rows, fields):
        long = max(map(len, columns)) > 8  # e.g. optimizers: "SGD(momentum=0.9) 0.03", broken at its last space
        ticks = [c[::-1].replace(" ", "\n", 1)[::-1] if long else c for c in columns]
        ax.set_xticks(range(len(columns)), ticks, rotation=30 if len(columns) > 4 and not long else 0,
                      fontsize="x-small" if long else None)
        ax.set_yticks(range(len(rows)) if rows != [""] else [], rows if rows != [""] else [])  # one field: one row
        ax.set_xlabel(fields[0])
        ax.set_xlim(-0.5, len(columns) - 0.5)
        ax.set_ylim(-0.5, len(rows) - 0.5)
        self.cmap = mpl.colormaps["viridis_r" if self.metric.endswith("loss") else "viridis"]
        self.norm = metric_norm(self.a["metric"], self.metric)
        self.fig.colorbar(mpl.cm.ScalarMappable(self.norm, self.cmap), ax=ax, label=METRICS[self.metric],
                          location="bottom", shrink=0.8, pad=0.1 if long else 0.02)
        self.cells = []
        for r, c in zip(self.row, self.col):
            box = mpl.patches.Rectangle((c - 0.5, r - 0.5), 1, 1, animated=True, edgecolor=style.bg, linewidth=2)
            ax.add_patch(box)
            cross = ax.plot([c - 0.35, c + 0.35, np.nan, c - 0.35, c + 0.35], [r - 0.35, r + 0.35, np.nan, r + 0.35,
                            r - 0.35], color="#c0392b", linewidth=3, animated=True)[0]
            text = ax.text(c, r, "", ha="center", va="center", fontsize="small", animated=True)
            self.cells.append((box, cross, text))

    def _lines(self, spec, style: Style, columns, rows, field):
        first, when = self.a["first_grad"], self.a["first_time"]
        finite = first[np.isfinite(first)]
        lo, hi = (np.floor(finite.min()) - 0.5, np.ceil(finite.max()) + 0.5) if finite.size else (-10, 0)
        self.traces, self.cursors = [], []
        axes = [self.fig.add_subplot(s) for s in spec][::-1]  # row 0 at the bottom, as in the heatmap
        for k, ax in enumerate(axes):
            ax.set_xlim(0, max(self.n_frames, 1))
            ax.set_ylim(lo, hi)
            ax.grid(True, alpha=0.3)
            ax.set_ylabel(rows[k] or "log₁₀ |g|")
            ax.tick_params(labelbottom=k == 0)
            self.cursors.append(ax.axvline(0, color=style.fg, linewidth=1, animated=True))
        for m, (r, c) in enumerate(zip(self.row, self.col)):
            (line,) = axes[r].plot([], [], color=style.colors[c % len(style.colors)], linewidth=1.5, animated=True,
                                   label=f"{short(field)} {columns[c]}")
            self.traces.append((line, when[m], first[m]))
        axes[0].set_xlabel("epoch")
        handles = [mpl.lines.Line2D([], [], color=style.colors[c % len(style.colors)], linewidth=2) for c in
                   range(len(columns))]
        title = f"first layer: median log₁₀ |gradient|, by {short(field)}"
        if len(axes) == 1:  # room inside the one panel, whatever the labels' length
            axes[0].set_title(title, fontsize="small")
            axes[0].legend(handles, list(columns), loc="best", fontsize="x-small", framealpha=0.8)
        else:  # above the stacked panels, which are too small to hold it
            axes[-1].legend(handles, list(columns), loc="lower center", fontsize="x-small", bbox_to_anchor=(0.5, 1.0),
                            ncols=min(len(columns), 4), frameon=False, title=title, title_fontsize="small")

    def label(self, i: int) -> str:
        return f"epoch {i + 1}"

    def update(self, i: int) -> None:
        a = self.a
        for m, (box, cross, text) in enumerate(self.cells):
            gone = a["state"][m] == "diverged" and i + 1 >= a["epoch"][m]
            value = a["metric"][m, i]
            cross.set_visible(gone)
            text.set_bbox({"facecolor": "white", "edgecolor": "none", "alpha": 0.8} if gone else None)
            if gone or not np.isfinite(value):
                box.set_facecolor("#bbbbbb")
                text.set_text(f"diverged\nat step {a['step'][m]}" if gone else "")
                text.set_color("black")
            else:
                rgba = self.cmap(self.norm(value))
                box.set_facecolor(rgba)
                text.set_text(f"{value:.3g}")
                text.set_color("black" if np.dot(rgba[:3], (0.299, 0.587, 0.114)) > 0.5 else "white")
        for line, when, first in self.traces:
            shown = when <= i + 1
            line.set_data(when[shown], first[shown])
        for cursor in self.cursors:
            cursor.set_xdata([i + 1, i + 1])
        self.heading.set_text(f"{self.title} — {self.label(i)}")
