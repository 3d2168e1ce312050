"""A run's measurements as tidy rows, CSV or JSON, for `reportgen export`."""
from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path

import numpy as np

from .load import find_run
from .rundir import ACTS, SHARPNESS, STATS, Run


def rows(run: Run, what: str) -> list[dict]:
    e = run.epochs()
    if not e:
        return []
    if what == "metrics":
        keys = ("step", "loss", "accuracy", "lr", "grad_norm")
        return [{k: e[k][i].item() for k in keys} for i in range(len(e["step"]))]
    names = [p["name"] for p in run.params]
    if what == "updates":
        return [{"step": int(step), "parameter": name, "update_ratio": float(e["update"][g, p])}
                for g, step in enumerate(e["grad_step"][:len(e.get("update", ()))]) for p, name in enumerate(names)]
    if what == "activations":
        layers = [a["name"] for a in run.instruments.get("activations", [])]
        return [{"step": int(step), "epoch": int(epoch), "module": name,
                 **{s: float(e["act"][g, k, j]) for j, s in enumerate(ACTS)}, "dead": float(e["act_dead"][epoch - 1, k])}
                for g, (step, epoch) in enumerate(zip(e["grad_step"][:len(e.get("act", ()))], e["grad_epoch"]))
                for k, name in enumerate(layers)]
    if what == "sharpness":
        return [{"step": int(e["sharp_step"][i]), **{k: float(e[k][i]) for k in SHARPNESS[1:]}}
                for i in range(len(e.get("sharp_step", ())))]
    if what == "gradients-per-epoch":
        return [epoch_row(e["grad"][e["grad_epoch"] == k], k, p, name)
                for k in np.unique(e["grad_epoch"]) for p, name in enumerate(names)]
    return [{"step": int(step), "parameter": name, **{s: float(e["grad"][g, p, k]) for k, s in enumerate(STATS)}}
            for g, step in enumerate(e["grad_step"]) for p, name in enumerate(names)]


def epoch_row(grad: np.ndarray, epoch: int, p: int, name: str) -> dict:
    """One tensor's statistics over an epoch's logged steps (`grad` [G, P, len(STATS)]): the median of each
    over the steps, and how the per-step median spreads across them (its 25th and 75th percentile)."""
    with warnings.catch_warnings():   # a tensor that was never non-zero: NaN, as in the per-step rows
        warnings.simplefilter("ignore", RuntimeWarning)
        middle = np.nanmedian(grad[:, p], axis=0)
        low, high = np.nanpercentile(grad[:, p, STATS.index("median")], [25, 75])
    return {"epoch": int(epoch), "parameter": name, "steps": len(grad), **dict(zip(STATS, middle.tolist())),
            "median_p25": float(low), "median_p75": float(high)}


def export(path: Path, what: str, fmt: str) -> str:
    """The rows of `what` (metrics | gradients | gradients-per-epoch | updates | activations | sharpness) of the run at `path`, as `fmt` (csv |
    json) text."""
    table = rows(find_run(path), what)
    if fmt == "json":
        return json.dumps(table, indent=1) + "\n"
    out = io.StringIO()
    if table:
        writer = csv.DictWriter(out, fieldnames=list(table[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
    return out.getvalue()
