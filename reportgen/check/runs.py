"""A run's claims, measured from its run directory: whether it learns, its gradient's span and collapse, divergence."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..declare.claims import (AtEdgeOfStability, DeadUnits, Diverges, DoesNotLearn, GradientCollapse, GradientSpan,
                              Learns, Saturated, Sharpens, when)
from ..registry import Registry
from ..store.entries import Entry
from ..store.rundir import ACTS, STATS, Run

FINISHED = ("complete", "diverged")
MEASURES = Registry("claim")  # claim type -> fn(claim, entry) -> [Verdict]


@dataclass(frozen=True)
class Verdict:
    """One claim measured: what it says, whether it held (None: not measured, e.g. the run has not finished)
    and the value measured, in words."""
    says: str
    held: bool | None
    measured: str

    @property
    def mark(self) -> str:
        return {True: "✓", False: "✗", None: "?"}[self.held]

    @property
    def state(self) -> str:
        return {True: "held", False: "failed", None: "unmeasured"}[self.held]

    def line(self) -> str:
        return f"{self.mark} {self.says}: {self.measured}"


def measure(kind):
    """Register fn(claim, run, experiment) -> (held, measured) as the measure of a run's claim of `kind`;
    a run that has not finished is not measured."""
    def add(fn):
        def verdicts(claim, entry: Entry, prefix: str = "") -> list[Verdict]:
            state = entry.run.status["state"]
            if state not in FINISHED:
                return [Verdict(prefix + claim.says(), None, f"the run is {state}")]
            return [Verdict(prefix + claim.says(), *fn(claim, entry.run, entry.experiment))]
        MEASURES[kind] = verdicts
        return fn
    return add


def losses(e: dict) -> tuple[float, float]:
    """The first step's training loss and the last epoch's mean."""
    return float(e["loss"][0]), float(np.mean(e["loss"][(e["epoch_end"][-2] if len(e["epoch_end"]) > 1 else 0):]))


def learning(run: Run, exp) -> tuple[float, float, float, float, str]:
    """start and end loss, final test accuracy, chance, and the words for them (NaN for a diverged run)."""
    chance = 1 / exp.data.classes
    if run.status["state"] == "diverged":  # perhaps before its first epoch ended: nothing to read
        return np.nan, np.nan, np.nan, chance, f"diverged at step {run.status['step']}"
    e = run.epochs()
    start, end = losses(e)
    acc = float(e.get("epoch_test_accuracy", [np.nan])[-1])
    return start, end, acc, chance, f"training loss {start:.2f} → {end:.2f}, test accuracy {acc:.0%} (chance {chance:.0%})"


@measure(Learns)
def learns(claim: Learns, run: Run, exp):
    start, end, acc, chance, words = learning(run, exp)
    return bool(end <= claim.below * start and acc >= claim.chance * chance), words


@measure(DoesNotLearn)
def does_not_learn(claim: DoesNotLearn, run: Run, exp):
    start, end, acc, chance, words = learning(run, exp)
    return run.status["state"] == "diverged" or bool(end > claim.above * start and acc < claim.chance * chance), words


def first_and_last(run: Run) -> tuple[np.ndarray, np.ndarray, dict]:
    """The median log10|g| of the first and the last weight layer (tensors of two or more dimensions) at every
    logged step, and the run's epochs."""
    e = run.epochs()
    if not e.get("grad_step", np.zeros(0)).size:  # e.g. a run that diverged before it logged any
        return np.zeros(0), np.zeros(0), {"grad_step": np.zeros(0), "grad_epoch": np.zeros(0, int)}
    weights = [i for i, p in enumerate(run.params) if len(p["shape"]) >= 2]
    median = e["grad"][:, :, STATS.index("median")]
    return median[:, weights[0]], median[:, weights[-1]], e


def rows(e: dict, at) -> np.ndarray:
    """The logged steps `at` names: the first one, the last epoch's, or epoch N's."""
    if at == "start":
        return np.arange(len(e["grad_step"]))[:1]
    epoch = e["grad_epoch"].max(initial=0) if at == "end" else at
    return np.flatnonzero(e["grad_epoch"] == epoch)


def at_rows(values: np.ndarray, picked: np.ndarray) -> float:
    return float(np.nanmedian(values[picked])) if picked.size and not np.isnan(values[picked]).all() else np.nan


@measure(GradientSpan)
def gradient_span(claim: GradientSpan, run: Run, exp):
    first, last, e = first_and_last(run)
    picked = rows(e, claim.at)
    a, b = at_rows(first, picked), at_rows(last, picked)
    if np.isnan(a) or np.isnan(b):
        return False, f"no gradient logged at {when(claim.at)}"
    low, high = claim.orders
    return bool(low <= b - a <= high), f"{b - a:+.1f} orders (first layer 10^{a:.1f}, last 10^{b:.1f})"


@measure(GradientCollapse)
def gradient_collapse(claim: GradientCollapse, run: Run, exp):
    first, _, e = first_and_last(run)
    a, b = at_rows(first, rows(e, "start")), at_rows(first, rows(e, "end"))
    if np.isnan(a) or np.isnan(b):
        return False, "no gradient logged"
    return bool(a - b >= claim.orders), f"first layer 10^{a:.1f} → 10^{b:.1f}: {a - b:.1f} orders down"


@measure(Diverges)
def diverges(claim: Diverges, run: Run, exp):
    status = run.status
    if status["state"] == "diverged":
        return True, f"diverged at step {status['step']}"
    return False, f"finished all {status['step']} steps"


def sharpness(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """The finite λ_max measured and their stability limits."""
    e = run.epochs()
    sharp, limit = e.get("sharp", np.zeros(0)), e.get("sharp_limit", np.zeros(0))
    good = np.isfinite(sharp)
    return sharp[good], limit[good]


@measure(AtEdgeOfStability)
def at_edge(claim: AtEdgeOfStability, run: Run, exp):
    sharp, limit = sharpness(run)
    if not sharp.size or not np.isfinite(limit).any():
        return False, "no sharpness with a stability limit measured"
    tail = slice(len(sharp) - max(1, round(claim.tail * len(sharp))), None)
    ratio = float(np.median(sharp[tail] / limit[tail]))
    low, high = claim.within
    return bool(low <= ratio <= high), (f"{ratio:.2f} × the limit (median of the last {len(sharp[tail])} of "
                                        f"{len(sharp)} measurements; limit {np.median(limit[tail]):.3g})")


@measure(Sharpens)
def sharpens(claim: Sharpens, run: Run, exp):
    sharp, _ = sharpness(run)
    if sharp.size < 2:
        return False, "fewer than two sharpness measurements"
    return bool(sharp.max() >= claim.by * sharp[0]), f"{sharp[0]:.3g} → at most {sharp.max():.3g} " \
        f"({sharp.max() / sharp[0]:.1f}×)"


def last_epoch_activations(run: Run) -> tuple[dict, np.ndarray, list[str]]:
    e = run.epochs()
    kinds = [a["kind"] for a in run.instruments.get("activations", [])]
    last = e["grad_epoch"] == e["grad_epoch"].max(initial=0) if "act" in e else np.zeros(0, bool)
    return e, last, kinds


@measure(DeadUnits)
def dead_units(claim: DeadUnits, run: Run, exp):
    e, _, kinds = last_epoch_activations(run)
    relu = [i for i, k in enumerate(kinds) if k == "relu"]
    if "act_dead" not in e or not relu:
        return False, "no ReLU-family activations recorded"
    dead = e["act_dead"][-1, relu]
    share = float(np.nanmean(dead))
    low, high = claim.within
    return bool(low <= share <= high), f"{share:.0%} dead (per layer {', '.join(f'{d:.0%}' for d in dead[:8])}" \
        f"{', …' if len(dead) > 8 else ''})"


@measure(Saturated)
def saturated(claim: Saturated, run: Run, exp):
    e, last, kinds = last_epoch_activations(run)
    layers = [i for i, k in enumerate(kinds) if k == "saturating"]
    if not last.any() or not layers:
        return False, "no Tanh or Sigmoid activations recorded"
    share = float(np.nanmean(e["act"][last][:, layers, ACTS.index("saturated")]))
    low, high = claim.within
    return bool(low <= share <= high), f"{share:.0%} of the outputs saturated"
