"""Units: what one cluster job computes, given paths only, writing only its own run directory (or grid part).

A unit names its experiment script, the `--set` overrides, its run directory and a stage: "run" (the whole
run), "train" (the training only, when its landscape is split) or "grid K/N" (part K of N of the landscape's
planes, see compute/projection.py). The worker loads the script itself and finds its run among the
declared ones by path, so nothing but these strings is pickled. Beside the run, `.<id>.<stage>.unit.json`
says where the unit was sent (executor, job id, log) and, once the sender saw it fail, why: for
`reportgen list` and for the next submission.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

from ..store.entries import Entry, members, needs_run
from ..store.io import RunError, read_json, write_json
from ..store.lock import held
from ..store.rundir import Run


@dataclass(frozen=True)
class Unit:
    script: str
    overrides: tuple[str, ...]
    runs: str  # the folder of run directories the script's runs live in
    run: str
    name: str
    stage: str = "run"

    @property
    def record(self) -> Path:
        slug = self.stage.replace(" ", "-").replace("/", "-of-")
        return Path(self.run).with_name(f".{Path(self.run).name}.{slug}.unit.json")

    @property
    def at(self) -> Run:
        return Run(Path(self.run))

    def __str__(self) -> str:
        return self.name if self.stage == "run" else f"{self.name} ({self.stage})"


@dataclass(eq=False)
class Handle:
    """A sent unit as its executor tracks it: the job id, its log file, the executor's own object."""
    job: str
    log: Path | str
    ref: object


def unit(entry: Entry, runs: Path, overrides: tuple[str, ...], stage: str = "run") -> Unit:
    return Unit(str(Path(entry.script).resolve()), tuple(overrides), str(Path(runs).resolve()),
                str(entry.run.path.resolve()), entry.name, stage)


def sent(u: Unit, executor: str, job: str, log: str) -> None:
    write_json(u.record, {"executor": executor, "job": job, "log": log, "stage": u.stage, "sent": time.time(),
                          "host": socket.gethostname()})


def failed(u: Unit, reason: str) -> None:
    write_json(u.record, read_json(u.record) | {"failed": reason})


def where(run: Run, stage: str | None = None) -> dict | None:
    """The record of the unit of `stage` last sent for this run (any stage: the newest), if any; one that
    cannot be read counts as none."""
    found = []
    for path in run.path.parent.glob(f".{run.id}.*.unit.json"):
        try:
            found.append(read_json(path))
        except RunError:
            continue
    found = [r for r in found if stage in (None, r.get("stage"))]
    return max(found, key=lambda r: r.get("sent", 0), default=None)


def state(run: Run) -> str:
    """What `reportgen list` shows: "running" while a live process holds the run's lock, "queued" when it
    was sent to a cluster and nothing has started it since ("failed" once it failed so), "stopped" when it was left unfinished (killed,
    preempted: it resumes when run again), else the run's own state."""
    status = run.status
    if status["state"] in ("complete", "diverged"):
        return status["state"]
    if held(run.lock_path):
        return "running"
    last = where(run) or {}
    if "failed" in last:
        return "failed"
    if last.get("sent", 0) > status.get("updated", 0):
        return "queued"
    return "stopped" if status["state"] == "running" else status["state"]


def find(entries: list[Entry], run: str) -> Entry:
    """The entry (or sweep member) whose run directory is `run`."""
    for e in entries:
        for candidate in (e, *members(e)):
            if str(candidate.run.path.resolve()) == run:
                return candidate
    raise RunError(f"{run}: no experiment of the script declares this run any more (was the script edited?)")


def work(u: Unit, threads: int | None = None) -> str:
    """Compute one unit in this process (a cluster job's body); returns the run's state."""
    import torch

    from ..compute import projection
    from ..compute.execute import execute, prepare
    from ..declare import config
    from ..declare.load import load
    if threads:
        torch.set_num_threads(threads)
    script = Path(u.script)  # checked by the command that sent it: loaded here only to be found by its path
    entries = [Entry(e, script, Run(Path(u.runs) / e.name / config.run_id(e))) for e in load(script, u.overrides)]
    entry = find(entries, u.run)
    if u.stage == "run":
        return execute(entry)
    if u.stage == "train":
        return prepare(entry)
    k, n = map(int, u.stage.split()[1].split("/"))
    projection.compute(entry.experiment, entry.run, part=(k, n))
    return "running"


def expand(entries: list[Entry], split: int) -> tuple[list[Entry], list[Entry]]:
    """(the entries whose units go to the cluster, the groups run here afterwards): a sweep's members go, the
    sweep then collects here; a run whose landscape is split into `split` > 1 parts trains there, its parts
    are computed there, then the run finishes here."""
    out, groups = [], []
    for e in entries:
        if not needs_run(e):
            continue
        parts = members(e)
        if parts:
            out += [m for m in parts if needs_run(m)]
            groups.append(e)
        else:
            out.append(e)
            if split > 1 and getattr(getattr(e.experiment, "landscape", None), "plane", 0):
                groups.append(e)
    return out, groups
