"""A sweep's claims: claims about the runs its grid values name (Runs) and an ordering of its best values."""
from __future__ import annotations

import numpy as np

from ..declare.claims import BestFalls, Runs
from ..declare.sweep import label, short
from ..store.entries import Entry, members
from .runs import FINISHED, MEASURES, Verdict


@MEASURES.register(Runs)
def grid_runs(claim: Runs, entry: Entry) -> list[Verdict]:
    """Each claim about each run of the grid whose values include the claim's `where`."""
    sweep, found = entry.experiment, []
    for values, run_entry in zip(sweep.combinations(), members(entry)):
        given = dict(zip(sweep.grid, values))
        if all(given[path] == value for path, value in claim.where.items()):
            words = ", ".join(f"{short(p)} {label(v)}" for p, v in given.items())
            found += [v for c in claim.claims for v in MEASURES[type(c)](c, run_entry, f"{words}: ")]
    return found


@MEASURES.register(BestFalls)
def best_falls(claim: BestFalls, entry: Entry) -> list[Verdict]:
    """From the sweep's arrays: per value of `along`, the value of `field` whose run ends best."""
    run, sweep = entry.run, entry.experiment
    if run.status["state"] not in FINISHED:
        return [Verdict(claim.says(), None, f"the sweep is {run.status['state']}")]
    a = run.arrays()
    fields = list(a["fields"])
    i, j = fields.index(claim.field), fields.index(claim.along)
    final = np.array([row[~np.isnan(row)][-1] if (~np.isnan(row)).any() else np.nan for row in a["metric"]])
    score = final if sweep.metric == "test_accuracy" else -final
    score = np.where(a["state"] == "diverged", -np.inf, np.nan_to_num(score, nan=-np.inf))
    best = []
    for k, along in enumerate(sweep.grid[claim.along]):
        runs = np.flatnonzero(a["index"][:, j] == k)
        best.append((along, sweep.grid[claim.field][a["index"][runs[np.argmax(score[runs])], i]]))
    picked = [b for _, b in best]
    held = all(x >= y for x, y in zip(picked, picked[1:])) and picked[-1] < picked[0]
    words = ", ".join(f"{short(claim.along)} {label(v)} → {label(b)}" for v, b in best)
    return [Verdict(claim.says(), held, f"best {short(claim.field)}: {words}")]
