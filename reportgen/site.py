"""The one writer of `site/`: runs what is missing, renders what changed, writes the pages, swaps them in."""
from __future__ import annotations

import functools
import hashlib
import html
import inspect
import json
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jinja2
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from . import __version__, figures, project, spec
from .style import Style
from .rundir import RunError, lock, read_npz

MANIFEST = ".reportgen-build.json"
MANIFEST_FORMAT = 2  # bump when what a build writes per figure changes: every figure is drawn again
ASSETS = ("style.css", "site.js")
PACKAGE = Path(__file__).resolve().parent


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
    """Templates by name from the fallback chain; "reportgen/<name>" is always the shipped one, so that a
    user's experiment.html can extend the shipped experiment.html and override only a block."""
    dirs = template_dirs(user_templates)
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader([str(p) for p in dirs]),
                                  jinja2.PrefixLoader({"reportgen": jinja2.FileSystemLoader(str(dirs[-1]))})])
    env = jinja2.Environment(loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["number"] = lambda v: f"{v:.4g}" if isinstance(v, float) else "—" if v is None else v
    env.filters["size"] = lambda n: f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{max(n // 1000, 1)} kB"
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
    except BaseException as e:
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(e, OSError) and e.filename is None:
            e.filename = str(out)  # a full disk fails in write(), which names no file: name the site
        raise
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(stage, out)
    shutil.rmtree(old, ignore_errors=True)


# import statements anywhere in a module (also inside functions); a match in a string only adds a dependency
FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]*)", re.M)
IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#]+)", re.M)


@functools.lru_cache(maxsize=None)
def _module(path: Path, stamp: tuple[int, int]) -> tuple[str, tuple[Path, ...]]:
    """One module's source hash and the reportgen modules it imports (cached while the file is unchanged)."""
    text = path.read_text()
    imported = []
    for dots, module, names in FROM_IMPORT.findall(text):
        base = path.parent.joinpath(*[".."] * (len(dots) - 1)).resolve() if dots else PACKAGE.parent
        listed = [n.split()[0] for n in names.strip("()").replace("\n", " ").split(",") if n.strip()]
        # `from . import name`: a submodule, or else a name defined in the package's __init__
        imported += [base.joinpath(*(module or n).split(".")) for n in ([module] if module else listed)]
        imported += [] if module else [base]
    for names in IMPORT.findall(text):
        imported += [PACKAGE.parent.joinpath(*n.split()[0].split(".")) for n in names.split(",") if n.strip()]
    found = [f for m in imported for f in (m.with_suffix(".py"), m / "__init__.py")
             if f.is_file() and f.is_relative_to(PACKAGE) and f != PACKAGE / "__init__.py"]  # the version: keyed
    return hashlib.sha256(text.encode()).hexdigest(), tuple(found)


def code_hash(path: Path) -> str:
    """A hash of a module's source and of every reportgen module it imports, transitively: read, never
    imported, so that a build with nothing to draw does not pay for importing torch and the figures."""
    seen, todo = {}, [Path(path).resolve()]
    while todo:
        f = todo.pop()
        if f not in seen:
            st = f.stat()
            seen[f], imports = _module(f, (st.st_mtime_ns, st.st_size))
            todo += imports
    return hashlib.sha256("".join(seen[f] for f in sorted(seen)).encode()).hexdigest()


def figure_source(name: str) -> Path:
    """The module of figure `name`: figures/<name>.py by the house rule, else wherever it was registered."""
    path = PACKAGE / "figures" / f"{name}.py"
    return path if path.is_file() else Path(inspect.getsourcefile(figures.get(name).make))


def figure_key(entry: project.Entry, figure: str, style: Style) -> str:
    """Everything a rendered figure (an entry of the experiment's figures) depends on: the run's content,
    the figure's code and options, and the style."""
    status = entry.run.status
    parts = [__version__, str(MANIFEST_FORMAT), entry.run.id, status["state"], str(status["step"]), figure,
             repr(style), code_hash(figure_source(figures.parse(figure)[0])),
             json.dumps({k: v for k, v in spec.to_dict(entry.experiment).items() if k != "figures"}, sort_keys=True)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def site_formats(fig: figures.Figure) -> tuple[str, ...]:
    """What the site offers of a figure: its own formats, and an MP4 beside every GIF (about +0.2 s a figure,
    a third more render time: cheap beside training, and paid only when the figure is drawn again)."""
    return fig.formats + (("mp4",) if "gif" in fig.formats and "mp4" not in fig.formats else ())


def draw(entry: project.Entry, figure: str, folder: Path, style: Style, jobs: int | None) -> dict:
    """Render one figure into `folder`; what the manifest keeps of it (so a reuse needs no import)."""
    name, options = figures.parse(figure)
    fig = figures.get(name)
    try:
        written = figures.draw(entry.run, name, folder / figures.stem(figure), style, site_formats(fig), jobs,
                               **options)
    except figures.Skipped as e:
        return {"skipped": str(e)}
    return {"files": {fmt: p.name for fmt, p in written.items()}, "title": fig.title, "caption": fig.caption}


def reuse(files: dict, old: Path, folder: Path) -> bool:
    """Link the previous site's files of a figure into the new one; False if any is gone."""
    if not all((old / f).is_file() for f in files.values()):
        return False
    for f in files.values():
        try:
            os.link(old / f, folder / f)
        except OSError:  # a filesystem without hard links
            shutil.copy2(old / f, folder / f)
    return True


def render_figures(entry: project.Entry, stage: Path, old: Path, manifest: dict, style: Style,
                   report: Report, jobs: int | None) -> list[dict]:
    """Draw (or reuse from the previous site) every figure of one experiment; return their page context."""
    shown = []
    folder = stage / entry.name
    folder.mkdir(exist_ok=True)
    for figure in entry.experiment.figures:
        key, label = figure_key(entry, figure, style), f"{entry.name}/{figures.stem(figure)}"
        done = manifest.get(label, {})
        if done.get("key") == key and reuse(done.get("files", {}), old / entry.name, folder):
            (report.skipped if "skipped" in done else report.reused).append(done.get("skipped", label))
        else:
            done = {"key": key, **draw(entry, figure, folder, style, jobs)}
            (report.skipped if "skipped" in done else report.rendered).append(done.get("skipped", label))
        manifest[label] = done
        if "files" in done:
            shown.append(figure_context(entry, figure, done, folder, style))
    return shown


def figure_context(entry: project.Entry, figure: str, done: dict, folder: Path, style: Style) -> dict:
    """What the templates show of one figure: files and their sizes, caption, alt text, embed snippets;
    `kind` is the figure's name, `name` the entry's (its anchor), `title` says the options it was given."""
    files = done["files"]
    kind, options = figures.parse(figure)
    title = done["title"] + (f" ({', '.join(f'{k}={v!r}' for k, v in options.items())})" if options else "")
    alt = f"{title} of {entry.experiment.title or entry.name}"
    width, height = style.size
    return {"name": figures.stem(figure), "kind": kind, "kind_title": done["title"], "title": title,
            "caption": done["caption"], "files": files, "alt": alt,
            "sizes": {fmt: (folder / f).stat().st_size for fmt, f in files.items()},
            "poster": files.get("png"), "image": files.get("gif") or files.get("png"), "width": width, "height": height, "embeds": embeds(files, alt)}


def embeds(files: dict, alt: str) -> list[tuple[str, str]]:
    """Snippets to paste the figure into Markdown, an HTML page or a reveal.js slide (URLs relative)."""
    image = files.get("gif") or files.get("png")
    a = html.escape(alt)
    slide = (f'<video src="{files["mp4"]}" class="r-stretch" data-autoplay loop muted playsinline></video>'
             if "mp4" in files else f'<img src="{image}" alt="{a}" class="r-stretch">')
    return [("Markdown", f"![{alt.replace('[', '(').replace(']', ')')}]({image})"),
            ("HTML", f'<img src="{image}" alt="{a}">'),
            ("reveal.js", f"<section>\n  {slide}\n</section>")]


def config_rows(obj, prefix: str = "") -> list[tuple[str, object]]:
    """A spec as (dotted field, value) rows, with each object's type on its own row."""
    rows = []
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and "type" in value:
            rows.append((name, value["type"] + ("()" if len(value) == 1 else "")))
            rows += config_rows({k: v for k, v in value.items() if k != "type"}, f"{name}.")
        elif isinstance(value, dict):  # a recorded run's own config
            rows += config_rows(value, f"{name}.")
        elif key != "type":
            rows.append((name, value))
    return rows


def final_metrics(entry: project.Entry) -> dict[str, object]:
    """The last epoch's numbers, read from its chunk alone (not the whole run's)."""
    status = entry.run.status
    chunks = entry.run.epoch_files(status.get("epoch") or None)
    if not chunks:
        return {}
    last = read_npz(chunks[-1])
    scalars = {k[len("epoch_"):].replace("_", " "): float(v) for k, v in last.items() if k.startswith("epoch_")}
    return {"epochs": int(status["epoch"]), "steps": int(status["step"]),
            "train loss (last epoch)": float(last["loss"].mean()),
            **{k: v for k, v in scalars.items() if v == v}}  # test loss, test accuracy, a loop's own; no NaN


def page(entry: project.Entry, shown: list[dict], parent: str | None = None) -> dict:
    """One experiment page's context; `parent`: the sweep whose runs list it (its card is not in the gallery)."""
    exp = entry.experiment
    source = entry.script.read_text() if entry.script else ""  # a recorded run has no script
    return {"name": entry.name, "title": exp.title or entry.name, "description": exp.description,
            "tags": exp.tags, "status": entry.run.status, "run_id": entry.run.id, "figures": shown,
            "config": config_rows({k: v for k, v in spec.to_dict(exp).items() if k not in spec.PRESENTATION}),
            "metrics": final_metrics(entry), "env": entry.run.env,
            "script": entry.script.name if entry.script else None,
            "source": highlight(source, PythonLexer(), HtmlFormatter(cssclass="highlight")) if source else "",
            "parent": parent, "members": []}


def build(paths=("experiments",), runs: Path = Path("runs"), out: Path = Path("site"), style: Style = Style(),
          clean: bool = False, jobs: int | None = None, templates: Path | None = Path("templates"),
          on_run=None, progress=None, entries: list[project.Entry] | None = None) -> Report:
    """The main job: run what is missing, render what changed, and write the site atomically. One build
    at a time per output folder: a second one stops at once, naming the first one's pid. `entries`: those
    of `paths`, if the caller has loaded them already (loading runs every script)."""
    with lock(Path(out).with_name(f".{Path(out).name}.lock"), f"another reportgen build is running on {out}/"):
        return _build(paths, runs, out, style, clean, jobs, templates, on_run, progress, entries)


def _build(paths, runs, out, style, clean, jobs, templates, on_run, progress, entries) -> Report:
    entries = project.entries(paths, Path(runs)) if entries is None else entries
    report = Report()
    for entry in entries:
        if project.needs_run(entry, clean):
            if on_run:
                on_run(entry)
            project.execute(entry, progress, clean)
            report.ran.append(entry.name)
    out = Path(out)
    manifest = {} if clean else read_manifest(out)
    env = environment(templates)
    with staging(out) as stage:
        pages = []
        # a sweep's runs get pages of their own, listed on the sweep's page instead of the gallery
        shown = [(m, None if m is e else e.name) for e in entries for m in (e, *project.members(e))]
        for entry, parent in shown:
            try:
                pages.append(page(entry, render_figures(entry, stage, out, manifest, style, report, jobs), parent))
            except RunError as e:
                raise BuildError(str(e)) from None
        for p in pages:
            p["members"] = [q for q in pages if q["parent"] == p["name"]]
        write_pages(env, stage, pages)
        drawn = {f"{e.name}/{figures.stem(f)}" for e, _ in shown for f in e.experiment.figures}
        manifest = {label: done for label, done in manifest.items() if label in drawn}
        (stage / MANIFEST).write_text(json.dumps({"format": MANIFEST_FORMAT, "figures": manifest}, indent=1,
                                                 sort_keys=True))
    return report


def read_manifest(out: Path) -> dict:
    """What the previous build drew, per "<experiment>/<figure>"; empty if there is none of this format."""
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return manifest["figures"] if manifest.get("format") == MANIFEST_FORMAT else {}


def write_pages(env: jinja2.Environment, stage: Path, pages: list[dict]) -> None:
    """The assets, the gallery, the about page and one page per experiment, all into `stage`."""
    (stage / "assets").mkdir()
    for name in ASSETS:
        (stage / "assets" / name).write_text(env.loader.get_source(env, name)[0])
    (stage / "assets" / "pygments.css").write_text(
        HtmlFormatter(style="default").get_style_defs(".highlight") + "\n@media (prefers-color-scheme: dark) {\n"
        + HtmlFormatter(style="monokai").get_style_defs(".highlight") + "\n}\n")
    (stage / ".nojekyll").write_text("")
    write_page(env, stage, "index.html", "index.html", pages=pages)
    write_page(env, stage, "about.html", "about.html", figures=figures_shown(pages))
    for p in pages:
        write_page(env, stage, f"{p['name']}/index.html", "experiment.html", exp=p)


def write_page(env: jinja2.Environment, stage: Path, path: str, template: str, **context) -> None:
    """Render `template` to `stage`/`path`; `root` leads back to the site's top from there (links stay relative)."""
    target = stage / path
    target.parent.mkdir(parents=True, exist_ok=True)
    root = "../" * path.count("/")
    target.write_text(env.get_template(template).render(root=root, version=__version__, **context))


def figures_shown(pages: list[dict]) -> list[dict]:
    """Each kind of figure on the site once, with the pages that show it (for the about page)."""
    kinds = {}
    for p in pages:
        for f in p["figures"]:
            shown = kinds.setdefault(f["kind"], {**f, "pages": []})["pages"]
            if p["name"] not in (q["name"] for q in shown):
                shown.append({"name": p["name"], "title": p["title"], "anchor": f["name"]})
    return list(kinds.values())
