"""A project folder's experiments and their runs: find the scripts, resolve each run, run what is missing."""
from __future__ import annotations

import contextlib
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path

from . import spec
from .rundir import Run, RunError, write_bytes

# How each kind of declaration computes its run: training by default; demos register their own.
RUNNERS: dict[type, callable] = {}


def runner(kind: type):
    def add(fn):
        RUNNERS[kind] = fn
        return fn
    return add


@dataclass(frozen=True)
class Entry:
    """One declared experiment (or recorded run: no script): where it came from and where its run lives."""
    experiment: object
    script: Path | None
    run: Run

    @property
    def name(self) -> str:
        return self.experiment.name


DEFAULT = Path("experiments")  # the default folder of scripts; a project of recorded runs may not have it


def scripts(paths: tuple[str | Path, ...]) -> list[Path]:
    """Experiment scripts named directly or found in folders (files starting with '_' are helpers)."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.glob("*.py") if not f.name.startswith("_"))
        elif p.suffix == ".py" and p.exists():
            found.append(p)
        elif p != DEFAULT:
            raise spec.SpecError(f"{p}: no such experiment script or folder")
    return found


def check_figures(exp, script: Path) -> None:
    """Every figure an experiment lists exists and takes its options, or one SpecError naming the script, the
    field and the entry. Names are read from the modules' names (the figure `x` is figures/x.py), so that
    no figure is imported unless it is given options, whose types only the figure itself declares."""
    import importlib.util
    import pkgutil

    from . import figures
    folder = importlib.util.find_spec(f"{__package__}.figures").submodule_search_locations
    known = {m.name for m in pkgutil.iter_modules(folder)}
    stems = set()
    for entry in getattr(exp, "figures", ()):
        try:
            name, options = figures.parse(entry)
            if name not in known:
                raise ValueError(f"unknown figure {name!r} (known: {', '.join(sorted(known))})")
            if options:
                figures.check(name, options)
            stem = figures.stem(entry)
            if stem in stems:
                raise ValueError(f"{entry!r} is listed twice")
            stems.add(stem)
        except ValueError as e:
            raise spec.SpecError(f"{script}: {type(exp).__name__}.figures = {exp.figures!r}: {e}") from None


def entries(paths: tuple[str | Path, ...], runs: Path, overrides: tuple[str, ...] = ()) -> list[Entry]:
    """Every experiment declared under `paths`, each with its run directory under `runs`; then, unless
    `paths` names scripts, the runs that users' own loops recorded under `runs` (reportgen.Recorder)."""
    result, seen = [], {}
    for script in scripts(paths):
        for exp in spec.load(script, overrides):
            if exp.name in seen:
                raise spec.SpecError(f"{script}: experiment name {exp.name!r} is also declared in {seen[exp.name]}")
            seen[exp.name] = script
            check_figures(exp, script)
            result.append(Entry(exp, script, Run(Path(runs) / exp.name / spec.run_id(exp))))
    if not any(Path(p).suffix == ".py" for p in paths):
        result += recorded(Path(runs), set(seen))
    if not result and DEFAULT in map(Path, paths) and not DEFAULT.exists():
        raise spec.SpecError(f"{DEFAULT}: no such experiment script or folder, and no recorded runs in {runs}")
    return result


def recorded(runs: Path, declared: set[str]) -> list[Entry]:
    """The newest recorded run in each folder under `runs` that no script declares; runs that cannot be
    read (another format, half-deleted) are left out: they are not this build's to judge."""
    newest: dict[str, Entry] = {}
    for config in sorted(runs.glob("*/*/config.json")):
        run, name = Run(config.parent), config.parent.parent.name
        try:
            if name in declared or run.kind != "recorded":
                continue
            entry = Entry(run.config, None, run)
        except RunError:
            continue
        if name not in newest or run.status.get("updated", 0) > newest[name].run.status.get("updated", 0):
            newest[name] = entry
    for entry in newest.values():
        check_figures(entry.experiment, entry.run.path / "config.json")
    return list(newest.values())


def members(entry: Entry) -> list[Entry]:
    """The runs a declaration groups (a sweep's combinations: `members()`), each an ordinary Entry whose run
    lives inside the group's, so the group's run owns them; [] for anything else."""
    group = getattr(entry.experiment, "members", None)
    return [Entry(exp, entry.script, Run(entry.run.path / "members" / exp.name)) for exp in group()] if group else []


def needs_run(entry: Entry, clean: bool = False) -> bool:
    """Complete and diverged runs are final; anything else (missing, running, failed) runs again, and
    everything with `clean`. A recorded run never runs here: only its own loop can make it."""
    return entry.script is not None and (clean or entry.run.status["state"] not in ("complete", "diverged"))


def execute(entry: Entry, progress=None, clean: bool = False) -> str:
    """Run (or resume) one experiment, holding its run's lock (`clean`: from scratch); a crash marks the
    run failed, keeps the traceback in error.txt and is re-raised."""
    from .train import train
    fn = RUNNERS.get(type(entry.experiment), train)
    with entry.run.lock():
        if clean and entry.run.path.exists():
            shutil.rmtree(entry.run.path)
        entry.run.remove_leftovers()
        if entry.run.exists():
            entry.run.meta  # noqa: B018 - refuses a run directory of another format before touching it
        try:
            return fn(entry.experiment, entry.run, progress)
        except Exception as e:
            if entry.run.exists() and not isinstance(e, RunError):  # an unreadable run is left as it is
                with contextlib.suppress(OSError):  # a full disk must not hide the error that stopped the run
                    entry.run.set_status("failed", message=f"{type(e).__name__}: {e}")
                    write_bytes(entry.run.path / "error.txt", traceback.format_exc().encode())
            raise


def execute_all(todo: list[Entry], jobs: int = 1, progress=None, clean: bool = False):
    """Run (or resume) every entry, yielding (entry, final state) as each ends. With jobs > 1, side by side
    in worker processes: one per GPU in turn when there are several, else the CPU threads split between
    them. Each run holds its own lock, so no two ever write the same directory. A failure lets the runs
    already started finish, cancels the rest and is raised."""
    if jobs <= 1 or len(todo) <= 1:
        for entry in todo:
            yield entry, execute(entry, progress, clean)
        return
    import multiprocessing
    import os
    import queue as queues
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    import torch
    ctx = multiprocessing.get_context("spawn")  # CUDA cannot be used in a forked child
    steps, slots = ctx.Queue(), ctx.Value("i", 0)
    threads = max(1, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()) // jobs)
    workers = min(jobs, len(todo))
    with ProcessPoolExecutor(workers, ctx, initializer=_worker_start,
                             initargs=(steps, slots, torch.cuda.device_count(), threads)) as pool:
        pending = {pool.submit(_worker_execute, entry, clean): entry for entry in todo}
        try:
            while pending:
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(steps, progress, queues.Empty)
                for future in done:
                    yield pending.pop(future), future.result()
        finally:
            for future in pending:
                future.cancel()
    _drain(steps, progress, queues.Empty)


def _drain(steps, progress, empty) -> None:
    while True:
        try:
            n = steps.get_nowait()
        except empty:
            return
        if progress:
            progress(n)


_STEPS = None  # a worker's queue for progress


def _worker_start(steps, slots, gpus: int, threads: int) -> None:
    """Give each worker its own GPU in turn (slot k takes GPU k mod the count), or its share of CPU threads."""
    import torch
    global _STEPS
    _STEPS = steps
    with slots.get_lock():
        slot, slots.value = slots.value, slots.value + 1
    if gpus > 1:
        torch.cuda.set_device(slot % gpus)  # "cuda" (and device="auto") now means this GPU
    elif gpus == 0:
        torch.set_num_threads(threads)


def _worker_execute(entry: Entry, clean: bool) -> str:
    return execute(entry, _STEPS.put, clean)


def total_steps(entry: Entry) -> int:
    """Training steps a run will take, for progress bars (1 for a run that trains nothing)."""
    exp = getattr(entry.experiment, "experiment", entry.experiment)  # a demo that trains an Experiment first
    if members(entry):  # a sweep: the steps of the runs it has left to train (they report to the bar)
        return sum(total_steps(m) for m in members(entry) if needs_run(m))
    if not isinstance(exp, spec.Experiment):
        return 1
    n = exp.data.n_train if isinstance(exp.data, spec.Synthetic) else (exp.data.limit or 50000)
    return -(-n // exp.batch_size) * exp.epochs


from . import demos, sweep  # noqa: E402,F401 - registers the demos' and sweeps' specs (for stored configs) and runners
