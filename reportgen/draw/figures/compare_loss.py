"""A group's runs on the same axes and the same frame clock: their loss curves, grown epoch by epoch."""
from __future__ import annotations

import numpy as np

from ..style import Style
from ...declare.sweep import short
from ...store.rundir import Run
from . import Skipped, figure

MARKERS = "os^Dv<>p"  # with the colours, so that runs stay apart in print and for readers who do not see colour


def group(run: Run, name: str) -> list[tuple[int, Run, str]]:
    """A group's runs that recorded epochs: their place in the group (which picks their look), the run and what
    tells it apart (its grid values); or Skipped."""
    a = run.arrays()
    fields = [str(f) for f in a["fields"]]
    found = []
    for k, (member, index) in enumerate(zip(run.members(), a["index"])):
        words = [str(a[f"labels_{j}"][v]) for j, v in enumerate(index)]
        if member.exists() and member.epoch_files():  # a Compare's runs by their names, a sweep's by field and value
            found.append((k, member, words[0] if fields == ["experiment"] else ", ".join(f"{short(f)} {w}"
                                                                                      for f, w in zip(fields, words))))
    if len(found) < 2:
        raise Skipped(f"{name}: {run.path.name} has fewer than two runs with a finished epoch")
    return found


def look(style: Style, k: int) -> dict:
    """Run k's colour and marker, the same in every comparison figure."""
    return {"color": style.colors[k % len(style.colors)], "marker": MARKERS[k % len(MARKERS)]}


def end_words(run: Run) -> str:
    """What a run that has stopped before the frame's epoch says: diverged, or where it ended."""
    status = run.status
    return f"diverged at step {status['step']}" if status["state"] == "diverged" else f"ended at epoch {status['epoch']}"


def epoch_losses(e: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per step: time in epochs and loss; per epoch: its mean training loss."""
    end = e["epoch_end"]
    time = np.interp(np.arange(1, len(e["loss"]) + 1), np.append(0, end), np.arange(len(end) + 1))
    return time, e["loss"], np.array([np.mean(part) for part in np.split(e["loss"], end[:-1])])


@figure("compare_loss", title="Loss curves, compared", requires=("metric",), caption="""
    Every run of the group on the same axes and the same clock: each frame is one epoch, up to which every
    curve has grown. Thin: the training loss of every step; bold with markers: its mean over each epoch; dashed,
    on the right: the held-out loss (or accuracy) at the end of each epoch, where the runs measured it. A run
    that has stopped keeps its last value; a cross marks one that diverged.""")
class CompareLoss:
    def __init__(self, run_path: str, style: Style):
        run = Run(run_path)
        self.runs = group(run, "compare_loss")
        self.title = run.config.title or run.config.name
        data = [m.epochs() for _, m, _ in self.runs]
        self.n_frames = max(len(e["epoch_end"]) for e in data)
        held = "epoch_test_accuracy" if any(np.isfinite(e.get("epoch_test_accuracy", [np.nan])).any()
                                            for e in data) else "epoch_test_loss"
        self.fig, (ax, side) = style.figure(ncols=2, gridspec_kw={"width_ratios": (1.6, 1)})
        self.series, losses = [], []
        for (k, member, words), e in zip(self.runs, data):
            time, loss, means = epoch_losses(e)
            c = look(style, k)
            (raw,) = ax.plot([], [], color=c["color"], linewidth=0.7, alpha=0.35, animated=True)
            (mean,) = ax.plot([], [], color=c["color"], marker=c["marker"], markersize=4, linewidth=2, label=words,
                              animated=True)
            (out,) = side.plot([], [], color=c["color"], marker=c["marker"], markersize=4, linestyle="--",
                               animated=True)
            (cross,) = ax.plot([], [], "x", color="#c0392b", markersize=12, markeredgewidth=3, animated=True)
            test = e.get(held, np.full(len(means), np.nan))
            diverged = member.status["state"] == "diverged"
            self.series.append((diverged, time, loss, means, test, raw, mean, out, cross))
            losses.append(loss[np.isfinite(loss)])
        finite = np.concatenate(losses)
        ax.set_xlim(0, self.n_frames)
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
            ax.set_yscale("log")
        if finite.size:
            ax.set_ylim(*(np.percentile(finite, (0, 99.5)) * (0.9, 1.1)))
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize="small", framealpha=0.85)
        tests = np.concatenate([s[4] for s in self.series])
        side.set_xlim(0.5, self.n_frames + 0.5)
        if np.isfinite(tests).any():
            lo, hi = np.nanmin(tests), np.nanmax(tests)
            side.set_ylim(lo - 0.05 * (hi - lo + 1e-9), hi + 0.05 * (hi - lo + 1e-9))
        side.set_xlabel("epoch")
        side.set_ylabel("held-out " + ("accuracy" if held.endswith("accuracy") else "loss"))
        side.yaxis.set_label_position("right")
        side.yaxis.tick_right()
        side.grid(True, alpha=0.3)
        self.heading = self.fig.suptitle(" ", x=0.01, ha="left", animated=True)

    def label(self, i: int) -> str:
        return f"epoch {i + 1}"

    def update(self, i: int) -> None:
        for diverged, time, loss, means, test, raw, mean, out, cross in self.series:
            shown = time <= i + 1
            raw.set_data(time[shown], loss[shown])
            epochs = np.arange(1, min(i + 1, len(means)) + 1)
            mean.set_data(epochs, means[:len(epochs)])
            out.set_data(epochs, test[:len(epochs)])
            ok = np.isfinite(loss[shown])
            gone = diverged and i + 1 >= len(means) and ok.any()
            cross.set_data(time[shown][ok][-1:] if gone else [], loss[shown][ok][-1:] if gone else [])
        self.heading.set_text(f"{self.title} — {self.label(i)}")
