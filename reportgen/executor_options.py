"""Where runs train, on the command line: --executor and -E (checked as one line each), training there or
here, and the progress bar of training."""
from __future__ import annotations

import sys

import click


def executor_options(fn):
    """--executor and --executor-option, shared by run and build (defaults from reportgen.toml's [executor])."""
    fn = click.option("-E", "--executor-option", "executor_pairs", multiple=True, metavar="KEY=VALUE",
                      help="An option of the executor, e.g. -E partition=gpu -E gpus=1 -E time=240 (repeatable).")(fn)
    return click.option("--executor", type=click.Choice(["local", "slurm", "ray"]), default=None,
                        help="Where the runs train: local processes (default), Slurm via submitit, or Ray.")(fn)


def chosen_executor(name, pairs, jobs=1, wait=True):
    """The executor's checked options (None: local), from the command line over reportgen.toml."""
    from .declare.spec import SpecError
    from .executors.options import Ray, Slurm, configure
    options = configure(name, pairs)
    if options is not None and jobs and jobs > 1:
        raise SpecError(f"--jobs {jobs}: runs side by side on this machine only; with --executor, each unit "
                        f"is a job of its own (size it with -E cpus=N / -E gpus=N)")
    if not wait and not isinstance(options, Slurm):
        raise SpecError("--no-wait: only with --executor slurm (local runs and Ray's tasks end with the "
                        "command that started them)" if not isinstance(options, Ray) else
                        "--no-wait: Ray's tasks end with the command that sent them; use --executor slurm")
    return options


def train(todo, options, runs, overrides=(), jobs=1, wait=True, clean=False) -> list[str]:
    """Train the entries here (`jobs` processes) or send them to the cluster `options` names, printing what
    happens; the failure lines."""
    from .compute.execute import execute_all
    from .executors.submit import submit
    with steps_bar(todo, "training") as bar:
        if options is None:
            for e, state in execute_all(todo, jobs, bar.update, clean):
                click.echo(f"\n{e.name}: {state} ({e.run.path})", err=True)
            return []
        out = submit(todo, options, runs, overrides, wait, bar.update, lambda line: click.echo(line, err=True),
                     clean)
    if not wait and out.sent:
        click.echo(f"sent {len(out.sent)} units; `reportgen list` shows their state, `reportgen run` again "
                   f"collects them", err=True)
    return out.failed


def steps_bar(entries, label: str):
    from .compute.execute import total_steps
    # hidden off a terminal, where it could only print its label: a log or an error stays one clean line
    return click.progressbar(length=sum(total_steps(e) for e in entries), label=label, file=sys.stderr,
                             show_eta=True, show_pos=True, hidden=not sys.stderr.isatty())
