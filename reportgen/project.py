"""A project folder's experiments and their runs: find the scripts, resolve each run, run what is missing."""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

from . import spec
from .rundir import Run  # noqa: F401 - re-exported for callers

# How each kind of declaration computes its run: training by default; demos register their own.
RUNNERS: dict[type, callable] = {}


def runner(kind: type):
    def add(fn):
        RUNNERS[kind] = fn
        return fn
    return add


@dataclass(frozen=True)
class Entry:
    """One declared experiment: where it came from and where its run lives."""
    experiment: object
    script: Path
    run: Run

    @property
    def name(self) -> str:
        return self.experiment.name


def scripts(paths: tuple[str | Path, ...]) -> list[Path]:
    """Experiment scripts named directly or found in folders (files starting with '_' are helpers)."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.glob("*.py") if not f.name.startswith("_"))
        elif p.suffix == ".py" and p.exists():
            found.append(p)
        else:
            raise spec.SpecError(f"{p}: no such experiment script or folder")
    return found


def entries(paths: tuple[str | Path, ...], runs: Path, overrides: tuple[str, ...] = ()) -> list[Entry]:
    """Every experiment declared under `paths`, each with its run directory under `runs`."""
    result, seen = [], {}
    for script in scripts(paths):
        for exp in spec.load(script, overrides):
            if exp.name in seen:
                raise spec.SpecError(f"{script}: experiment name {exp.name!r} is also declared in {seen[exp.name]}")
            seen[exp.name] = script
            result.append(Entry(exp, script, Run(Path(runs) / exp.name / spec.run_id(exp))))
    return result


def needs_run(entry: Entry) -> bool:
    """Complete and diverged runs are final; anything else (missing, running, failed) runs again."""
    return entry.run.status["state"] not in ("complete", "diverged")


def execute(entry: Entry, progress=None) -> str:
    """Run (or resume) one experiment; a crash marks the run failed and is re-raised."""
    from .train import train
    fn = RUNNERS.get(type(entry.experiment), train)
    try:
        return fn(entry.experiment, entry.run, progress)
    except Exception as e:
        if entry.run.exists():
            entry.run.set_status("failed", message=f"{type(e).__name__}: {e}")
            (entry.run.path / "error.txt").write_text(traceback.format_exc())
        raise


def total_steps(entry: Entry) -> int:
    """Training steps a run will take, for progress bars (1 for a run that trains nothing)."""
    exp = entry.experiment
    if not isinstance(exp, spec.Experiment):
        return 1
    n = exp.data.n_train if isinstance(exp.data, spec.Synthetic) else (exp.data.limit or 50000)
    return -(-n // exp.batch_size) * exp.epochs
