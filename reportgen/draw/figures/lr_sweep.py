"""A learning-rate sweep the tuning playbook's way: the best metric per rate, the unstable rates crossed out,
and the training curves of the rates just above the best."""
from __future__ import annotations

import functools
import textwrap
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps

from ..style import Style
from ...store.rundir import Run
from ...declare.sweep import METRICS, label, short
from . import figure
from .grad_norm import running_median
from .lr_schedule import log_if_wide

ABOVE = 3  # training curves of this many rates above the best


@dataclass
class Member:
    """One run of a sweep: the swept field's value, its per-step training loss and how it ended."""
    value: float
    run: Run
    loss: np.ndarray      # per step
    best: float           # the best of the sweep's metric over the epochs (NaN: none)
    infeasible: str       # why it is out ("diverged at step N", "loss rose"); "" when it trained


def value_at(obj, path: str):
    """The value of a dotted field path of a spec: optimizer.lr -> obj.optimizer.lr."""
    return functools.reduce(getattr, path.split("."), obj)


def members(run: Run, field: str) -> list[Member]:
    """The sweep's runs in grid order, with `field`'s number (a pair's start) and whether each was feasible:
    infeasible = diverged (NaN or inf) or a last epoch's mean training loss above the first step's."""
    a, metric = run.arrays(), run.config.metric
    pick = np.nanmin if metric.endswith("loss") else np.nanmax
    result = []
    for k, name in enumerate(a["names"]):
        member = Run(run.path / "members" / str(name))
        value = value_at(member.config, field)
        value = value[0] if isinstance(value, tuple) else value
        if not isinstance(value, (int, float)):
            raise ValueError(f"{run.path}: {field} = {value!r}: this figure needs numbers")
        e = member.epochs()
        loss = e.get("loss", np.full(1, np.nan))
        ends = e.get("epoch_end", [len(loss)])
        last = loss[ends[-2] if len(ends) > 1 else 0:]
        final = np.nanmean(last) if np.isfinite(last).any() else np.inf
        status = member.status
        why = (f"diverged at step {status['step']}" if status["state"] == "diverged"
               else "loss rose" if not final <= loss[0] else "")
        metrics = a["metric"][k]
        best = float(pick(metrics)) if np.isfinite(metrics).any() and not why else np.nan
        result.append(Member(float(value), member, loss, best, why))
    return result


def swept(run: Run, name: str) -> str:
    """The swept field whose last part is `name` (lr, steps), or ValueError naming what was swept (a field
    given a single value is set, not swept)."""
    a = run.arrays()
    fields = [str(f) for k, f in enumerate(a["fields"]) if len(a[f"labels_{k}"]) > 1]
    found = [f for f in fields if short(f) == name]
    if len(fields) != 1 or not found:
        raise ValueError(f"{run.path}: this figure needs a sweep over one field named {name!r}; "
                         f"it swept {', '.join(fields)}")
    return found[0]


def feasibility(ax, ms: list[Member], style: Style, metric: str, xlabel: str) -> Member | None:
    """Best metric per value (log x): dots for the feasible runs, red crosses for the others (at the top
    edge when they have no value), a star at the best. Returns the best member."""
    ok = [m for m in ms if not m.infeasible and np.isfinite(m.best)]
    bad = [m for m in ms if m.infeasible or not np.isfinite(m.best)]
    ax.set_xscale("log")
    ax.set_xticks([m.value for m in ms], [label(m.value) for m in ms])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"best {METRICS[metric]}")
    ax.grid(True, alpha=0.3)
    ys = np.array([m.best for m in ok])
    if len(ok):
        ax.plot([m.value for m in ok], ys, "o-", color=style.colors[0], markersize=8, label="trained")
        lo, hi = ys.min(), ys.max()
        pad = 0.15 * (hi - lo) if hi > lo else 0.1 * abs(hi) + 1e-3
        ax.set_ylim(lo - 1.5 * pad, hi + 2.5 * pad)  # room for the star below, the crosses and legend above
    top = ax.get_ylim()[1]
    if bad:
        ax.plot([m.value for m in bad], [top - 0.06 * np.diff(ax.get_ylim())[0]] * len(bad), "x", color="#c0392b",
                markersize=12, markeredgewidth=3, label="diverged or loss rose", clip_on=False)
    best = None
    if len(ok):
        best = ok[int(np.argmin(ys) if metric.endswith("loss") else np.argmax(ys))]
        ax.plot([best.value], [best.best], "*", color=style.colors[3], markersize=22, markeredgecolor=style.fg,
                label=f"best: {label(best.value)}", zorder=5)
    ax.legend(loc="best", fontsize="small")
    return best


def edge_warning(ms: list[Member], best: Member | None) -> str:
    """The playbook's caution: a best at the edge of the range tried, or right beside the unstable rates."""
    if best is None:
        return "no run trained: every value diverged or its loss rose"
    order = sorted(ms, key=lambda m: m.value)
    i = order.index(best)
    beside = [m for m in order[max(i - 1, 0):i + 2] if m.infeasible]
    if beside:
        return f"the best sits at the edge of the unstable region ({label(beside[0].value)}: {beside[0].infeasible})"
    if i in (0, len(order) - 1):
        return "the best is at the end of the range tried: widen the sweep"
    return ""


def warn(ax, text: str) -> None:
    """The warning as the panel's title, in red, over its plot rather than on it."""
    if text:
        ax.set_title(textwrap.fill("⚠ " + text, 52), loc="left", color="#c0392b", fontsize="small")


def curves(ax, ms: list[Member], style: Style, what: str) -> None:
    """Training loss against step, one running-median line per member, coloured in order; the y range
    runs from the lowest loss to 1.5 x the starting one, so a run that blew up does not flatten the rest."""
    for k, m in enumerate(ms):
        at, median = running_median(np.nan_to_num(m.loss, nan=np.inf), max(3, len(m.loss) // 25))
        ax.plot(at + 1, median, color=colormaps["plasma"](0.85 * k / max(len(ms) - 1, 1)), linewidth=2,
                linestyle="--" if m.infeasible else "-",
                label=f"{what} {label(m.value)}" + (f" ({m.infeasible})" if m.infeasible else ""))
    finite = np.concatenate([m.loss[np.isfinite(m.loss)] for m in ms])
    starts = [m.loss[0] for m in ms if np.isfinite(m.loss[0])]
    if finite.size and starts:
        lo, hi = np.percentile(finite, 0.5), 1.5 * np.median(starts)
        log_if_wide(ax, np.array([lo, hi]), ratio=10)
        ax.set_ylim(lo * 0.9 if ax.get_yscale() == "log" else lo - 0.05 * (hi - lo), hi)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (running median)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize="x-small")


@figure("lr_sweep", title="Learning-rate sweep", requires=("metric",), formats=("png",), caption="""
    Left: the best value of the sweep's metric reached at each learning rate (log scale); dots are runs
    that trained, red crosses runs that diverged or ended with a higher training loss than they started
    with, the star the best rate. A best rate right beside the unstable ones is fragile. Right: the
    training loss of the best rate and of the rates just above it; a loss that rises or wobbles there
    is the instability that a warmup or clipping can address.""")
class LrSweep:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        field = swept(run, "lr")
        metric = run.config.metric
        ms = sorted(members(run, field), key=lambda m: m.value)
        self.fig, (left, right) = style.figure(ncols=2)
        best = feasibility(left, ms, style, metric, "learning rate")
        warn(left, edge_warning(ms, best))
        start = ms.index(best) if best else 0
        curves(right, ms[start:start + ABOVE + 1], style, "lr")
        right.set_title("the best rate and those just above", loc="left", fontsize="medium")
        self.fig.suptitle(run.config.title or run.config.name, x=0.01, ha="left")
        self.n_frames = 1

    def update(self, i: int) -> None:
        """One still frame: everything was drawn in __init__."""
