"""The `reportgen` command: a thin Click shell; each command parses its options, then calls one function."""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from . import checking
from .executor_options import chosen_executor, executor_options, steps_bar, train
from .figure_options import FORMATS, chosen_formats, make_style, style_options
from .version import __version__

def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix: one line and exit 1, no traceback (unless --debug)."""
    from .compute.data import DataCorrupt, DataMissing
    from .declare.spec import SpecError
    from .draw.figures import Skipped
    from .site.build import BuildError
    from .site.publish import PublishError
    from .site.serve import ServeError
    from .site.templates import TemplateError
    from .store.io import RunError
    return (SpecError, DataMissing, DataCorrupt, RunError, BuildError, Skipped, PublishError, ServeError,
            TemplateError, PermissionError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError)


def command(fn):
    """Turn user errors into one line on stderr and a non-zero exit; --debug shows the traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            from .store.io import DISK_ERRORS
            users = isinstance(e, user_errors()) or (isinstance(e, OSError) and e.errno in DISK_ERRORS)
            if not users or click.get_current_context().find_root().params.get("debug"):
                raise
            text = str(e) if not isinstance(e, OSError) or not e.filename else f"{e.filename}: {e.strerror}"
            click.echo(f"error: {text}", err=True)
            sys.exit(1)
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reportgen")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def main(debug: bool) -> None:
    """Run declarative experiments, draw what happened inside the network, publish it as a static site."""


PATHS = click.argument("paths", nargs=-1, type=click.Path())
RUNS = click.option("--runs", type=click.Path(file_okay=False, path_type=Path), default="runs", show_default=True,
                    help="Folder of run directories.")
SET = click.option("--set", "overrides", multiple=True, metavar="FIELD=VALUE",
                   help="Override a field of every selected experiment, e.g. --set model.depth=80 (repeatable).")


@main.command()
@PATHS
@RUNS
@SET
@click.option("--clean", is_flag=True, help="Delete and redo the runs instead of reusing them.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs side by side, in processes (one per GPU when there are several).")
@executor_options
@click.option("--no-wait", is_flag=True, help="With --executor slurm: submit and return; run again to collect.")
@command
def run(paths, runs, overrides, clean, jobs, executor, executor_pairs, no_wait):
    """Train the experiments in PATHS (files or folders; default: experiments/), skipping finished runs."""
    from .pipeline import gather
    from .store.entries import needs_run
    options = chosen_executor(executor, executor_pairs, jobs, not no_wait)
    entries = gather(paths or ("experiments",), runs, overrides)
    todo = [e for e in entries if needs_run(e, clean)]
    for e in entries:
        if e not in todo:
            click.echo(f"{e.name}: reusing {e.run.status['state']} run {e.run.id}")
    if todo and train(todo, options, runs, overrides, jobs, not no_wait, clean):
        sys.exit(1)


@main.command()
@PATHS
@RUNS
@SET
@style_options
@FORMATS
@click.option("--figure", "names", multiple=True, metavar="NAME[(OPTION=VALUE, ...)]",
              help="Only these figures, e.g. \"trajectory_map(projection='mds')\" (default: each experiment's own).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default="renders", show_default=True)
@command
def render(paths, runs, overrides, preset, theme, fps, jobs, formats, names, out):
    """Draw the figures of finished runs into OUT/<experiment>/ without touching the site (e.g. for slides)."""
    from .declare.spec import SpecError
    from .draw import figures
    from .pipeline import gather
    from .store.entries import needs_run
    style, formats = make_style(preset, theme, fps), chosen_formats(formats)
    for figure in names:
        try:
            figures.check(*figures.parse(figure))
        except ValueError as e:
            raise SpecError(f"--figure {figure!r}: {e}") from None
    for e in gather(paths or ("experiments",), runs, overrides):
        if needs_run(e):
            click.echo(f"{e.name}: no finished run yet; `reportgen run` it first", err=True)
            continue
        for figure in names or e.experiment.figures:
            name, options = figures.parse(figure)
            try:
                written = figures.render(e.run, name, out / e.name / figures.stem(figure), style,
                                       formats, jobs, **options)
            except figures.Skipped as skip:
                click.echo(f"skipped {skip}", err=True)
                continue
            for path in written.values():
                click.echo(path)


OUT = click.option("--out", type=click.Path(file_okay=False, path_type=Path), default="site", show_default=True)
TEMPLATES = click.option("--templates", type=click.Path(file_okay=False, path_type=Path), default="templates",
                         show_default=True, help="Your own templates; any file here overrides the shipped one.")


def site_options(fn):
    """The options of the commands that build the site: build and serve."""
    for option in (TEMPLATES, OUT, style_options, RUNS, PATHS):
        fn = option(fn)
    return fn


@main.command()
@site_options
@click.option("--clean", is_flag=True, help="Run, render and write everything again.")
@click.option("--strict", is_flag=True, help="A figure that fails keeps the last site instead of being shown failed.")
@executor_options
@command
def build(paths, runs, preset, theme, fps, jobs, out, templates, clean, strict, executor, executor_pairs):
    """Run what is missing, render what changed, write the site (the main job). A figure that cannot be
    drawn is shown failed on its page, the rest is written, and the command exits 1. With --executor, the
    runs train on the cluster and the figures are drawn here."""
    options = chosen_executor(executor, executor_pairs)
    if build_site(paths, runs, make_style(preset, theme, fps), jobs, out, templates, clean, strict, options):
        sys.exit(1)


def build_site(paths, runs, style, jobs, out, templates, clean=False, strict=False, executor=None) -> list[str]:
    """`reportgen build`'s work, also what `reportgen serve` does on every change; the failures, printed."""
    from . import pipeline
    from .store.entries import needs_run
    entries = pipeline.gather(paths or ("experiments",), runs)
    todo = [e for e in entries if needs_run(e, clean)]
    bar = steps_bar(todo, "training") if todo else None
    report = pipeline.build(paths or ("experiments",), runs, out, style, clean, jobs,
                            templates, progress=bar.update if bar else None, entries=entries, strict=strict,
                            executor=executor, echo=lambda line: click.echo(line, err=True))
    if bar:
        bar.render_finish()
    click.echo(f"site: {out}/index.html — {len(entries)} experiments; ran {len(report.ran)}, "
               f"rendered {len(report.rendered)} figures, reused {len(report.reused)}"
               + (f", {len(report.failed)} FAILED (shown failed on their pages)" if report.failed else ""), err=True)
    for line in report.skipped:
        click.echo(f"skipped {line}", err=True)
    for line in report.failed:
        click.echo(f"failed {line}", err=True)
    return report.failed


@main.command(name="list")
@PATHS
@RUNS
@command
def list_(paths, runs):
    """List the experiments, their runs and each run's status."""
    from .pipeline import gather
    from .executors.units import state
    from .store.entries import members
    for e in gather(paths or ("experiments",), runs):
        for k, m in enumerate((e, *members(e))):  # a sweep's runs below it, as a cluster runs each on its own
            s = m.run.status
            name = f"  {m.name}" if k else m.name
            click.echo(f"{name:32} {m.run.id if not k else '':10}  {state(m.run):9} epoch {s['epoch']:>3}  "
                       f"step {s['step']:>6}  {e.script or 'recorded'}")


main.command()(PATHS(RUNS(SET(command(checking.check)))))  # one line each claim, exit 1 unless all held


@main.command(name="figures")
@command
def figures_():
    """List the figures an experiment can name, with what each needs recorded and the options it takes."""
    from .declare.spec import describe
    from .draw import figures
    for name, fig in sorted(figures.load_all().items()):
        takes = ", ".join(f"{k}={d!r} ({describe(t)})" for k, (t, d) in figures.options(name).items())
        how = {q: f" (Record({q}=...))" for q in ("updates", "activations", "sharpness")}   # instruments: how to record
        how["metric"] = " (the runs of a Sweep or a Compare)"
        needs = f"; needs {', '.join(q + how.get(q, '') for q in fig.requires)}" if fig.requires else ""
        click.echo(f"{name:18} {fig.title}{needs}" + (f"\n{'':18} options: {takes}" if takes else ""))


@main.command()
@click.argument("run_path", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--what", type=click.Choice(["metrics", "gradients", "gradients-per-epoch", "updates", "activations",
                                           "sharpness"]), default="metrics", show_default=True,
              help="Per step; per logged step and tensor; per epoch and tensor; update/weight ratios per logged "
                   "step and tensor; activation health per logged step and module; sharpness per measurement.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout).")
@command
def export(run_path, what, fmt, output):
    """Write a run's metrics or gradient statistics as tidy rows (RUN: a run directory or runs/<experiment>)."""
    from .store import export as ex
    text = ex.export(run_path, what, fmt)
    if output:
        from .store.io import write_bytes
        write_bytes(output, text.encode())
    else:
        click.echo(text, nl=False)


@main.command()
@click.option("--depth", type=click.IntRange(min=2), default=80, show_default=True, help="Linear layers.")
@click.option("--width", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--activation", default="LeakyReLU(negative_slope=0.01)", show_default=True,
              help="As in an experiment script: ReLU(), Tanh(), GELU(), Identity(), LeakyReLU(negative_slope=2).")
@click.option("--orders", type=float, default=0.5, show_default=True,
              help="How flat: the most orders of magnitude the gradient may rise from the first layer to the last.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the initial weights.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Draw both diagrams into this PNG.")
@command
def calibrate(depth, width, activation, orders, seed, plot):
    """Find the weight multiplier that makes the gradient diagram flat at initialisation (seconds)."""
    from .compute import calibrate as cal
    from .declare import MLP
    from .declare.config import override
    from .declare.spec import SpecError
    if plot and plot.suffix.lower() != ".png":  # checked before the seconds of calibrating
        raise SpecError(f"--plot {plot}: allowed: a file name ending in .png")
    model = override(MLP(depth=depth, width=width), f"activation={activation}")
    result = cal.calibrate(model, seed=seed, orders=orders)
    click.echo(result.summary())
    if plot:
        from .draw.calibration import plot as draw_plot
        click.echo(draw_plot(result, plot))


@main.command()
@site_options
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--watch/--no-watch", default=True, show_default=True,
              help="Build first, then rebuild whenever PATHS or the templates change (open pages reload).")
@command
def serve(paths, runs, preset, theme, fps, jobs, out, templates, port, watch):
    """Preview the site on http://127.0.0.1:PORT/, rebuilt on every change of an experiment or template."""
    import time
    import traceback
    from .site import serve as server
    style = make_style(preset, theme, fps)
    if not watch and not (out / "index.html").exists():
        raise FileNotFoundError(2, "no site here; run `reportgen build` first", str(out))

    def rebuild() -> bool:
        click.echo("change seen: building again", err=True)
        try:
            build_site(paths, runs, style, jobs, out, templates)
            return True
        except Exception as e:  # a broken script while editing: say so and keep serving the last good site
            click.echo(f"error: {e}" if isinstance(e, user_errors()) else traceback.format_exc(), err=True)
            return False

    folders = [*(paths or ("experiments",)), templates]
    with server.listen(out, port) as http:  # bound first: a port in use stops serve before it builds
        if watch:
            build_site(paths, runs, style, jobs, out, templates)
        with server.serving(http, rebuild if watch else None, folders) as url:
            click.echo(f"serving {out}/ on {url}" + (f" (watching {', '.join(map(str, folders))})" if watch else "")
                       + "; Ctrl-C to stop", err=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


@main.command()
@click.option("--site", "folder", type=click.Path(file_okay=False, path_type=Path), default="site", show_default=True)
@click.option("--branch", default="gh-pages", show_default=True, help="The branch GitHub Pages deploys from.")
@click.option("--remote", default="origin", show_default=True, help="Where to push the branch.")
@click.option("--no-push", is_flag=True, help="Only commit the branch locally.")
@click.option("-m", "--message", help="Commit message (default: Publish site from <HEAD>).")
@command
def publish(folder, branch, remote, no_push, message):
    """Commit the built site as the whole of a gh-pages branch (your checkout is left alone) and push it."""
    from .site.publish import publish as commit
    sha = commit(folder, Path("."), branch, remote, message, not no_push)
    click.echo(f"{branch} is at {sha[:10]}" + ("" if no_push else f", pushed to {remote}"), err=True)
