"""A run's measurements as tidy rows (one observation a row), as CSV or JSON, for the user's own plots."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .rundir import Run
from .stats import STATS


class ExportError(Exception):
    """RUN is neither a run directory nor an experiment folder holding runs."""


def find_run(path: Path) -> Run:
    """A run directory, or the most recently updated run of an experiment folder (runs/<experiment>)."""
    path = Path(path)
    if (path / "config.json").exists():
        return Run(path)
    runs = [Run(p) for p in path.glob("*/") if (p / "config.json").exists()] if path.is_dir() else []
    if not runs:
        raise ExportError(f"{path}: not a run directory, nor a folder of runs (expected config.json)")
    return max(runs, key=lambda r: r.status.get("updated", 0))


def rows(run: Run, what: str) -> list[dict]:
    e = run.epochs()
    if not e:
        return []
    if what == "metrics":
        keys = ("step", "loss", "accuracy", "lr", "grad_norm")
        return [{k: e[k][i].item() for k in keys} for i in range(len(e["step"]))]
    names = [p["name"] for p in run.params]
    return [{"step": int(step), "parameter": name, **{s: float(e["grad"][g, p, k]) for k, s in enumerate(STATS)}}
            for g, step in enumerate(e["grad_step"]) for p, name in enumerate(names)]


def export(path: Path, what: str, fmt: str) -> str:
    """The rows of `what` (metrics | gradients) of the run at `path`, as `fmt` (csv | json) text."""
    table = rows(find_run(path), what)
    if fmt == "json":
        return json.dumps(table, indent=1) + "\n"
    out = io.StringIO()
    if table:
        writer = csv.DictWriter(out, fieldnames=list(table[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
    return out.getvalue()
