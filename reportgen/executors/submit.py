"""Sending units and waiting for them: what `reportgen run/build --executor` do (see the package's docstring)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..store.entries import Entry, members
from . import EXECUTORS
from .units import Unit, expand, failed, sent, state, unit, where

POLL = 1.0  # seconds between looks at the run directories while waiting


@dataclass
class Outcome:
    """What a submission did: the units sent, those left alone (queued or running already), failure lines."""
    sent: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    failed_runs: set[str] = field(default_factory=set)


def executor(options, runs):
    from . import ray, slurm  # noqa: F401 - they register themselves
    return EXECUTORS[type(options)](options, runs)


def submit(entries: list[Entry], options, runs, overrides=(), wait: bool = True, progress=None,
           echo=lambda line: None, clean: bool = False) -> Outcome:
    """Send the units of what is not complete (`clean`: of everything, deleted first), wait for them (unless
    not `wait`), then finish the groups here. A failed unit is one line with its reason and log; the other
    units go on."""
    from ..compute.execute import clear, execute
    out, ex, split = Outcome(), executor(options, runs), options.landscape_units
    try:
        for e in entries if clean else ():
            clear(e)
        todo, groups = expand(entries, split)
        lands = [g for g in groups if not members(g)]  # split landscapes: train there, then their parts
        first = [unit(e, runs, overrides, "train" if e in lands else "run") for e in todo
                 if not (e in lands and _trained(e))]
        _run(ex, first, out, progress, echo, wait)
        if not wait:
            return out
        parts = [unit(e, runs, overrides, f"grid {k}/{split}") for e in lands if _trained(e) for k in range(split)]
        _run(ex, parts, out, progress, echo, wait)
        for g in groups:
            if not {str(r.run.path.resolve()) for r in (g, *members(g))} & out.failed_runs:
                echo(f"{g.name}: {execute(g)} (finished here)")
    finally:
        ex.close()
    return out


def _trained(e: Entry) -> bool:
    """Whether a run whose landscape is split finished its training (it stays "running" until merged)."""
    s = e.run.status
    return s["state"] == "running" and s["epoch"] >= e.experiment.epochs


def _run(ex, units: list[Unit], out: Outcome, progress, echo, wait: bool) -> None:
    """Submit the units not queued or running already, then (if `wait`) poll until each ended."""
    fresh = []
    for u in units:
        record, now = where(u.at, u.stage), state(u.at)
        if now == "running" or (record and record.get("sent", 0) > u.at.status.get("updated", 0)
                                and ex.alive(record)):
            out.busy.append(str(u))
            echo(f"{u}: {now} already, not sent again")
        else:
            fresh.append(u)
    if not fresh:
        return
    pending = dict(zip(ex.submit(fresh), fresh))
    for handle, u in pending.items():
        sent(u, ex.name, str(handle.job), str(handle.log))
        out.sent.append(str(u))
    echo(f"sent {len(fresh)} units to {ex.name}; logs in {ex.logs}")
    steps = {u: u.at.status["step"] for u in fresh}
    while wait and pending:
        time.sleep(POLL)
        for handle, u in list(pending.items()):
            step = u.at.status.get("step", 0)
            if progress and step > steps[u]:
                progress(step - steps[u])
                steps[u] = step
            reason = ex.poll(handle)
            if reason is None:
                continue
            del pending[handle]
            if not reason:
                echo(f"{u}: {u.at.status['state']}")
                continue
            log = u.at.path / "error.txt" if (u.at.path / "error.txt").exists() else handle.log
            out.failed.append(f"{u}: {reason} (log: {log})")
            out.failed_runs.add(u.run)
            failed(u, reason)
            echo(f"failed {out.failed[-1]}")
