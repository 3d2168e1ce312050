"""Running declarations: one run under its lock by the runner of its kind, or many side by side in processes."""
from __future__ import annotations

import contextlib
import shutil
import traceback

from ..declare import Experiment, Synthetic
from ..store.entries import Entry, members, needs_run
from ..store.io import RunError, write_bytes
from .runners import RUNNERS


def execute(entry: Entry, progress=None, clean: bool = False, runner=None) -> str:
    """Run (or resume) one experiment, holding its run's lock (`clean`: from scratch); a crash marks the
    run failed, keeps the traceback in error.txt and is re-raised. Whether the run is needed is decided
    again once the lock is held: a process that waited for another may find the run finished by it.
    `runner`: another stage than the declaration's own runner (`prepare`'s)."""
    fn = runner or RUNNERS[type(entry.experiment)]
    with entry.run.lock():
        if clean and entry.run.path.exists():
            shutil.rmtree(entry.run.path)
        elif not needs_run(entry):
            return entry.run.status["state"]
        entry.run.remove_leftovers()
        if entry.run.exists():
            entry.run.meta  # noqa: B018 - refuses a run directory of another format before touching it
        try:
            state = fn(entry.experiment, entry.run, progress)
            (entry.run.path / "error.txt").unlink(missing_ok=True)  # a failure before this one is history
            return state
        except Exception as e:
            if entry.run.exists() and not isinstance(e, RunError):  # an unreadable run is left as it is
                with contextlib.suppress(OSError):  # a full disk must not hide the error that stopped the run
                    entry.run.set_status("failed", message=f"{type(e).__name__}: {e}")
                    write_bytes(entry.run.path / "error.txt", traceback.format_exc().encode())
            raise


def clear(entry: Entry) -> None:
    """Delete a run directory (to redo it), under its lock: never one another process is writing."""
    with entry.run.lock():
        if entry.run.path.exists():
            shutil.rmtree(entry.run.path)


def prepare(entry: Entry, progress=None) -> str:
    """Train a run whose landscape is computed afterwards in parts (by cluster units): it stays "running"."""
    from .train import train
    return execute(entry, progress, runner=lambda exp, run, progress: train(exp, run, progress, final="running"))


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
    import queue as queues
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    import torch

    from .runtime import cores
    ctx = multiprocessing.get_context("spawn")  # CUDA cannot be used in a forked child
    steps, slots = ctx.Queue(), ctx.Value("i", 0)
    threads = max(1, cores() // jobs)
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
    if not isinstance(exp, Experiment):
        return 1
    n = exp.data.n_train if isinstance(exp.data, Synthetic) else (getattr(exp.data, "limit", None) or 50000)
    return -(-n // exp.batch_size) * exp.epochs
