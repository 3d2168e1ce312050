"""Reading a run back as numpy arrays for the user's own plots: `reportgen.load_run`."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io import read_npy
from .rundir import ACTS, SHARPNESS, STATS, Run, RunError


class NoRun(RunError):
    """A path that is neither a run directory nor an experiment folder holding runs."""


def find_run(path: Path) -> Run:
    """A run directory, or the most recently updated run of an experiment folder (runs/<experiment>)."""
    path = Path(path)
    if (path / "config.json").exists():
        return Run(path)
    runs = [Run(p) for p in path.glob("*/") if (p / "config.json").exists()] if path.is_dir() else []
    if not runs:
        raise NoRun(f"{path}: not a run directory, nor a folder of runs (expected config.json)")
    return max(runs, key=lambda r: r.status.get("updated", 0))


class Trajectory(Sequence):
    """A run's weight snapshots: `steps` [T], and snapshot i as all parameters flattened, [N] float32,
    memory-mapped (read from disk only where used); np.stack(list(t)) gives the whole [T, N]."""

    def __init__(self, run: Run):
        found = run.trajectory()
        self.steps = np.array([s for s, _ in found], np.int64)
        self.paths = [p for _, p in found]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        return read_npy(self.paths[i], mmap=True)


@dataclass(frozen=True)
class RunData:
    """What load_run returns: a run's records as numpy arrays and plain Python objects."""
    path: Path
    kind: str          # "train" (a declared experiment), "recorded" (reportgen.Recorder) or a demo's kind
    name: str
    config: dict       # a recorded run: the dict its loop gave; otherwise the experiment's fields, as JSON data
    status: dict       # state (running | complete | diverged | failed), epoch, step, message, updated
    env: dict          # versions, device, git commit
    metrics: dict      # per step [S]: step, loss, accuracy, lr, grad_norm, clipped; per epoch [E]: epoch_*
    params: list       # parameter names, in network order
    stats: tuple       # the statistics along grad's last axis (rundir.STATS): median, q05, ..., zero_frac, l2
    grad_step: np.ndarray  # [G] the steps with gradient statistics
    grad_epoch: np.ndarray  # [G] the epoch of each
    grad: np.ndarray   # [G, len(params), len(stats)]
    trajectory: Trajectory
    instruments: dict = field(default_factory=dict)
    # what Record(updates=, activations=, sharpness=) measured (empty when not): update [G, P]; act [G, L, 3]
    # along acts (rundir.ACTS), act_dead [E, L], activations (the modules' names); sharp_step, sharp, sharp_limit,
    # trace, trace_se [K], sharpness (its kind: sgd | adam (λ_max of P⁻¹H) | other)


def load_run(path: str | Path) -> RunData:
    """The records of the run at `path` (a run directory, or runs/<name>: its newest run), e.g.

        r = reportgen.load_run("runs/my-run")
        plt.plot(r.metrics["step"], r.metrics["loss"])
        plt.plot(r.grad_step, r.grad[:, r.params.index("0.weight"), r.stats.index("median")])

    metrics also holds epoch_end [E]: where each epoch ends in the per-step arrays. The log10 columns of
    grad (median, q05..q95) are over each tensor's non-zero entries; NaN where a tensor had none."""
    run = find_run(Path(path))
    meta, e = run.meta, run.epochs()
    declared = meta["experiment"]
    return RunData(path=run.path, kind=meta["kind"], name=declared.get("name", run.path.parent.name),
                   config=declared["config"] if meta["kind"] == "recorded" else declared, status=run.status,
                   env=run.env, metrics={k: v for k, v in e.items() if k not in ("grad_step", "grad_epoch", "grad", *LOGGED)},
                   params=[p["name"] for p in run.params] if (run.path / "params.json").exists() else [],
                   stats=STATS, grad_step=e.get("grad_step", np.zeros(0, np.int64)),
                   grad_epoch=e.get("grad_epoch", np.zeros(0, np.int64)),
                   grad=e.get("grad", np.zeros((0, 0, len(STATS)), np.float32)), trajectory=Trajectory(run),
                   instruments=instruments(run, e))


LOGGED = ("update", "act", "act_dead", *SHARPNESS)   # the instruments' arrays: in RunData.instruments


def instruments(run: Run, e: dict) -> dict:
    """The instruments' arrays of a run's epochs, with the names of the hooked modules and the sharpness's kind."""
    about = run.instruments
    found = {k: e[k] for k in LOGGED if k in e}
    if "activations" in about:
        found["acts"], found["activations"] = ACTS, [a["name"] for a in about["activations"]]
    if "sharpness" in about:
        found["sharpness"] = about["sharpness"]
    return found
