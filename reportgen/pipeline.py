"""The main job as a pipeline of stages, each visiting its layer once: gather → execute → render → write."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .compute.execute import execute
from .compute.runners import CHECKS
from .declare import config
from .declare.load import DEFAULT, load, scripts
from .declare.spec import SpecError
from .draw import figures
from .draw.style import Style
from .site import build as site
from .store.entries import Entry, needs_run, recorded
from .store.rundir import Run


@dataclass
class Report(site.Rendered):
    """What a build did, for the command line to print: the runs it executed, the figures it rendered."""
    ran: list[str] = field(default_factory=list)


def check(exp, source: Path) -> None:
    """What the declaration layer cannot check alone: the figures it lists (draw) and what only the computing
    side knows (a racer's options), each as one SpecError naming `source`."""
    try:
        figures.check_all(getattr(exp, "figures", ()))
    except ValueError as e:
        raise SpecError(f"{source}: {type(exp).__name__}.figures = {exp.figures!r}: {e}") from None
    if type(exp) in CHECKS:
        try:
            CHECKS[type(exp)](exp)
        except SpecError as e:
            raise SpecError(f"{source}: {e}") from None


def gather(paths: tuple[str | Path, ...], runs: Path, overrides: tuple[str, ...] = ()) -> list[Entry]:
    """Every experiment declared under `paths`, checked, each with its run directory under `runs`; then, unless
    `paths` names scripts, the runs that users' own loops recorded under `runs` (reportgen.Recorder)."""
    result, seen = [], {}
    for script in scripts(paths):
        for exp in load(script, overrides):
            if exp.name in seen:
                raise SpecError(f"{script}: experiment name {exp.name!r} is also declared in {seen[exp.name]}")
            seen[exp.name] = script
            check(exp, script)
            result.append(Entry(exp, script, Run(Path(runs) / exp.name / config.run_id(exp))))
    if not any(Path(p).suffix == ".py" for p in paths):
        found = recorded(Path(runs), set(seen))
        for entry in found:
            check(entry.experiment, entry.run.path / "config.json")
        result += found
    if not result and DEFAULT in map(Path, paths) and not DEFAULT.exists():
        raise SpecError(f"{DEFAULT}: no such experiment script or folder, and no recorded runs in {runs}")
    return result


def build(paths=("experiments",), runs: Path = Path("runs"), out: Path = Path("site"), style: Style = Style(),
          clean: bool = False, jobs: int | None = None, templates: Path | None = Path("templates"),
          on_run=None, progress=None, entries: list[Entry] | None = None, strict: bool = False,
          executor=None, echo=lambda line: None) -> Report:
    """Gather the declarations, execute the runs that are missing, render what changed and write the site
    atomically. One build at a time per output folder. `entries`: those of `paths`, if the caller has
    gathered them already (gathering runs every script); `strict`: a figure that fails keeps the last site;
    `executor`: the options of the cluster that trains what is missing (executors/), rendering stays here:
    a unit that fails is a failure of the build, its page shows the run as it is."""
    with site.writer(out):
        entries = gather(paths, Path(runs)) if entries is None else entries
        report = Report()
        if executor is not None:
            from .executors.submit import submit
            sent = submit([e for e in entries if needs_run(e, clean)], executor, Path(runs),
                                    progress=progress, echo=echo, clean=clean)
            report.ran, report.failed = sent.sent, sent.failed
            clean = False  # the cluster redid the runs; nothing is left to run here
        for entry in entries if executor is None else ():
            if needs_run(entry, clean):
                if on_run:
                    on_run(entry)
                execute(entry, progress, clean)
                report.ran.append(entry.name)
        site.write(entries, Path(out), style, clean, jobs, templates, report, strict)
        return report
