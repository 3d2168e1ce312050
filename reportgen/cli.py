"""The `reportgen` command: a thin Click shell; each command parses its options, then calls one function."""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from . import __version__

def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix: one line and exit 1, no traceback (unless --debug)."""
    from . import data, export, figures, site, spec
    from .rundir import RunError
    return (spec.SpecError, data.DataMissing, data.DataCorrupt, RunError, site.BuildError, figures.Skipped,
            export.ExportError, PermissionError, FileNotFoundError, IsADirectoryError, NotADirectoryError)


def command(fn):
    """Turn user errors into one line on stderr and a non-zero exit; --debug shows the traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except user_errors() as e:
            if click.get_current_context().find_root().params.get("debug"):
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


def style_options(fn):
    """The options that choose how figures look, shared by build and render."""
    from .animate import PRESETS, THEMES
    fn = click.option("--preset", type=click.Choice(sorted(PRESETS)), default="web", show_default=True,
                      help="Pixel size: web or a slide format.")(fn)
    fn = click.option("--theme", type=click.Choice(THEMES), default="light", show_default=True)(fn)
    fn = click.option("--fps", type=float, default=None, help="Frames per second (default: the figure's).")(fn)
    fn = click.option("--jobs", type=int, default=None, help="Processes for rendering (default: all cores).")(fn)
    return fn


def make_style(preset, theme, fps):
    from .animate import Style
    return Style(preset=preset, theme=theme, **({"fps": fps} if fps else {}))


def steps_bar(entries, label: str):
    from .project import total_steps
    return click.progressbar(length=sum(total_steps(e) for e in entries), label=label, file=sys.stderr,
                             show_eta=True, show_pos=True)


@main.command()
@PATHS
@RUNS
@SET
@click.option("--clean", is_flag=True, help="Delete and redo the runs instead of reusing them.")
@command
def run(paths, runs, overrides, clean):
    """Train the experiments in PATHS (files or folders; default: experiments/), skipping finished runs."""
    from . import project
    entries = project.entries(paths or ("experiments",), runs, overrides)
    todo = [e for e in entries if clean or project.needs_run(e)]
    for e in entries:
        if e not in todo:
            click.echo(f"{e.name}: reusing {e.run.status['state']} run {e.run.id}")
    if not todo:
        return
    with steps_bar(todo, "training") as bar:
        for e in todo:
            if clean and e.run.path.exists():
                import shutil
                shutil.rmtree(e.run.path)
            state = project.execute(e, bar.update)
            click.echo(f"\n{e.name}: {state} ({e.run.path})", err=True)


@main.command()
@PATHS
@RUNS
@SET
@style_options
@click.option("--format", "formats", default="gif,png", show_default=True, help="Comma-separated: gif, mp4, png, webp.")
@click.option("--figure", "names", multiple=True, help="Only these figures (default: each experiment's own).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default="renders", show_default=True)
@command
def render(paths, runs, overrides, preset, theme, fps, jobs, formats, names, out):
    """Draw the figures of finished runs into OUT/<experiment>/ without touching the site (e.g. for slides)."""
    from . import figures, project
    style = make_style(preset, theme, fps)
    for e in project.entries(paths or ("experiments",), runs, overrides):
        if project.needs_run(e):
            click.echo(f"{e.name}: no finished run yet; `reportgen run` it first", err=True)
            continue
        for name in names or e.experiment.figures:
            try:
                written = figures.draw(e.run, name, out / e.name / name, style, tuple(formats.split(",")), jobs)
            except figures.Skipped as skip:
                click.echo(f"skipped {skip}", err=True)
                continue
            for path in written.values():
                click.echo(path)


@main.command()
@PATHS
@RUNS
@style_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default="site", show_default=True)
@click.option("--templates", type=click.Path(file_okay=False, path_type=Path), default="templates",
              show_default=True, help="Your own templates; any file here overrides the shipped one.")
@click.option("--clean", is_flag=True, help="Run, render and write everything again.")
@command
def build(paths, runs, preset, theme, fps, jobs, out, templates, clean):
    """Run what is missing, render what changed, write the site (the main job)."""
    from . import project, site
    entries = project.entries(paths or ("experiments",), runs)
    todo = [e for e in entries if clean or project.needs_run(e)]
    bar = steps_bar(todo, "training") if todo else None
    report = site.build(paths or ("experiments",), runs, out, make_style(preset, theme, fps), clean, jobs,
                        templates, progress=bar.update if bar else None)
    if bar:
        bar.render_finish()
    click.echo(f"site: {out}/index.html — {len(entries)} experiments; ran {len(report.ran)}, "
               f"rendered {len(report.rendered)} figures, reused {len(report.reused)}", err=True)
    for line in report.skipped:
        click.echo(f"skipped {line}", err=True)


@main.command(name="list")
@PATHS
@RUNS
@command
def list_(paths, runs):
    """List the experiments, their runs and each run's status."""
    from . import project
    for e in project.entries(paths or ("experiments",), runs):
        s = e.run.status
        click.echo(f"{e.name:32} {e.run.id}  {s['state']:9} epoch {s['epoch']:>3}  step {s['step']:>6}  {e.script}")


@main.command()
@click.argument("run_path", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--what", type=click.Choice(["metrics", "gradients"]), default="metrics", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout).")
@command
def export(run_path, what, fmt, output):
    """Write a run's metrics or gradient statistics as tidy rows (RUN: a run directory or runs/<experiment>)."""
    from . import export as ex
    text = ex.export(run_path, what, fmt)
    if output:
        from .rundir import write_bytes
        write_bytes(output, text.encode())
    else:
        click.echo(text, nl=False)


@main.command()
@click.option("--site", "folder", type=click.Path(file_okay=False, path_type=Path), default="site", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@command
def serve(folder, port):
    """Preview the site on http://127.0.0.1:PORT/."""
    import http.server
    if not (folder / "index.html").exists():
        raise FileNotFoundError(2, "no site here; run `reportgen build` first", str(folder))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        click.echo(f"serving {folder} on http://127.0.0.1:{port}/ (Ctrl-C to stop)", err=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
