"""What the pipeline works on: each declaration with its run directory; recorded runs found among the runs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .rundir import Run, RunError


@dataclass(frozen=True)
class Entry:
    """One declared experiment (or recorded run: no script): where it came from and where its run lives."""
    experiment: object
    script: Path | None
    run: Run

    @property
    def name(self) -> str:
        return self.experiment.name


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
