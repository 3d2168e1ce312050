"""The one writer of `site/`: runs what is missing, renders what changed, writes the pages, swaps them in."""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jinja2
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from . import __version__, animate, figures, project, spec
from .animate import Style
from .rundir import RunError

MANIFEST = ".reportgen-build.json"
ASSETS = ("style.css", "site.js")


class BuildError(Exception):
    """A build that cannot go on: one line saying why."""


@dataclass
class Report:
    """What a build did, for the command line to print."""
    ran: list[str] = field(default_factory=list)
    rendered: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def template_dirs(user: Path | None) -> list[Path]:
    """A user's own templates first, then the ones shipped with reportgen (installed, or this checkout)."""
    shipped = resources.files("reportgen") / "templates"
    if not shipped.is_dir():
        shipped = Path(__file__).resolve().parent.parent / "templates"
    return ([Path(user)] if user and Path(user).is_dir() else []) + [Path(str(shipped))]


def environment(user_templates: Path | None) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(p) for p in template_dirs(user_templates)]),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["number"] = lambda v: f"{v:.4g}" if isinstance(v, float) else v
    return env


@contextmanager
def staging(out: Path):
    """Yield a fresh folder beside `out`; on success it replaces `out`, on failure `out` is untouched."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.with_name(f".{out.name}.new")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(stage, out)
    shutil.rmtree(old, ignore_errors=True)


def figure_key(entry: project.Entry, name: str, style: Style) -> str:
    """Everything a rendered figure depends on: the run's content, the figure's code and the style."""
    fig = figures.get(name)
    status = entry.run.status
    parts = [__version__, entry.run.id, status["state"], str(status["step"]), name, repr(style),
             inspect.getsource(inspect.getmodule(fig.make)), inspect.getsource(animate),
             json.dumps(spec.to_dict(entry.experiment), sort_keys=True)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def render_figures(entry: project.Entry, stage: Path, old: Path, manifest: dict, style: Style,
                   report: Report, jobs: int | None) -> list[dict]:
    """Draw (or reuse from the previous site) every figure of one experiment; return their page context."""
    shown = []
    for name in entry.experiment.figures:
        fig = figures.get(name)
        key = figure_key(entry, name, style)
        folder = stage / entry.name
        folder.mkdir(exist_ok=True)
        previous = manifest.get(f"{entry.name}/{name}", {})
        files = previous.get("files", {})
        if previous.get("key") == key and all((old / entry.name / f).exists() for f in files.values()):
            for f in files.values():
                os.link(old / entry.name / f, folder / f)
            report.reused.append(f"{entry.name}/{name}")
        else:
            try:
                written = figures.draw(entry.run, name, folder / name, style, jobs=jobs)
            except figures.Skipped as e:
                report.skipped.append(str(e))
                continue
            files = {fmt: p.name for fmt, p in written.items()}
            report.rendered.append(f"{entry.name}/{name}")
        manifest[f"{entry.name}/{name}"] = {"key": key, "files": files}
        shown.append({"name": name, "title": fig.title, "caption": fig.caption, "files": files,
                      "poster": files.get("png"), "image": files.get("gif") or files.get("png"),
                      "alt": f"{fig.title} of {entry.experiment.title or entry.name}"})
    return shown


def config_rows(obj, prefix: str = "") -> list[tuple[str, object]]:
    """A spec as (dotted field, value) rows, with each object's type on its own row."""
    rows = []
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and "type" in value:
            rows.append((name, value["type"] + ("()" if len(value) == 1 else "")))
            rows += config_rows({k: v for k, v in value.items() if k != "type"}, f"{name}.")
        elif key != "type":
            rows.append((name, value))
    return rows


def final_metrics(entry: project.Entry) -> dict[str, object]:
    e = entry.run.epochs()
    if not e:
        return {}
    status = entry.run.status
    return {"epochs": int(status["epoch"]), "steps": int(status["step"]),
            "train loss (last epoch)": float(e["loss"][-len(e["loss"]) // len(e["epoch_test_loss"]):].mean()),
            "test loss": float(e["epoch_test_loss"][-1]), "test accuracy": float(e["epoch_test_accuracy"][-1])}


def page(entry: project.Entry, shown: list[dict]) -> dict:
    exp = entry.experiment
    source = entry.script.read_text()
    return {"name": entry.name, "title": exp.title or entry.name, "description": exp.description,
            "tags": exp.tags, "status": entry.run.status, "run_id": entry.run.id, "figures": shown,
            "config": config_rows({k: v for k, v in spec.to_dict(exp).items() if k not in spec.PRESENTATION}),
            "metrics": final_metrics(entry), "env": entry.run.env, "script": entry.script.name,
            "source": highlight(source, PythonLexer(), HtmlFormatter(cssclass="highlight"))}


def build(paths=("experiments",), runs: Path = Path("runs"), out: Path = Path("site"), style: Style = Style(),
          clean: bool = False, jobs: int | None = None, templates: Path | None = Path("templates"),
          on_run=None, progress=None) -> Report:
    """The main job: run what is missing, render what changed, and write the site atomically."""
    entries = project.entries(paths, Path(runs))
    report = Report()
    for entry in entries:
        if clean or project.needs_run(entry):
            if clean and entry.run.path.exists():
                shutil.rmtree(entry.run.path)
            if on_run:
                on_run(entry)
            project.execute(entry, progress)
            report.ran.append(entry.name)
    out = Path(out)
    manifest = {} if clean else read_manifest(out)
    env = environment(templates)
    with staging(out) as stage:
        pages = []
        for entry in entries:
            try:
                pages.append(page(entry, render_figures(entry, stage, out, manifest, style, report, jobs)))
            except RunError as e:
                raise BuildError(str(e)) from None
        write_pages(env, stage, pages)
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return report


def read_manifest(out: Path) -> dict:
    try:
        return json.loads((out / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def write_pages(env: jinja2.Environment, stage: Path, pages: list[dict]) -> None:
    (stage / "assets").mkdir()
    for name in ASSETS:
        (stage / "assets" / name).write_text(env.loader.get_source(env, name)[0])
    (stage / "assets" / "pygments.css").write_text(
        HtmlFormatter(style="default").get_style_defs(".highlight") + "\n@media (prefers-color-scheme: dark) {\n"
        + HtmlFormatter(style="monokai").get_style_defs(".highlight") + "\n}\n")
    (stage / ".nojekyll").write_text("")
    common = {"version": __version__}
    (stage / "index.html").write_text(env.get_template("index.html").render(root="", pages=pages, **common))
    (stage / "about.html").write_text(env.get_template("about.html").render(root="", **common))
    for p in pages:
        (stage / p["name"]).mkdir(exist_ok=True)
        (stage / p["name"] / "index.html").write_text(
            env.get_template("experiment.html").render(root="../", exp=p, **common))
