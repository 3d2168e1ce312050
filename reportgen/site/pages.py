"""The pages: each experiment's context for the templates (figures, embeds, config, metrics, script), and writing them."""
from __future__ import annotations

import html
from pathlib import Path

import jinja2
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from ..version import __version__
from ..declare import config
from ..draw import figures
from ..draw.style import Style
from ..store.entries import Entry
from ..store.io import RunError, naming, read_npz
from .templates import render_template

ASSETS = ("style.css", "site.js", "player.js")


def figure_context(entry: Entry, figure: str, done: dict, folder: Path, style: Style) -> dict:
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
            "poster": files.get("png"), "image": files.get("gif") or files.get("png"), "width": width, "height": height,
            "embeds": embeds(files, alt), "frames": files.get("frames"), "labels": done.get("labels", [])}


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


def final_metrics(entry: Entry) -> dict[str, object]:
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


def page(entry: Entry, shown: list[dict], failed: list[dict] = (), parent: str | None = None,
         claims=list) -> dict:
    """One experiment page's context; `failed`: its figures that could not be drawn; `parent`: the sweep whose
    runs list it (its card is not in the gallery); `claims()`: its claims' verdicts. A damaged file of the run
    is one of its `problems`, shown on the page, not a build that stops."""
    exp, problems = entry.experiment, []

    def read(part: str, what, default):
        try:
            return what()
        except RunError as e:
            problems.append(f"{part}: {e}")
            return default

    status = read("status", lambda: entry.run.status, {"state": "failed", "epoch": 0, "step": 0, "message": ""})
    source = entry.script.read_text() if entry.script else ""  # a recorded run has no script
    return {"name": entry.name, "title": exp.title or entry.name, "description": exp.description,
            "tags": exp.tags, "status": status, "run_id": entry.run.id, "figures": shown, "failed": list(failed),
            "config": config_rows({k: v for k, v in config.to_dict(exp).items() if k not in config.PRESENTATION}),
            "metrics": read("final metrics", lambda: final_metrics(entry), {}),
            "env": read("environment", lambda: entry.run.env, {}),
            "script": entry.script.name if entry.script else None,
            "source": highlight(source, PythonLexer(), HtmlFormatter(cssclass="highlight")) if source else "",
            "parent": parent, "members": [], "compare": [], "problems": problems,
            "group": "comparison" if type(exp).__name__ == "Compare" else "sweep",
            "claims": read("claims", claims, [])}


def write_pages(env: jinja2.Environment, stage: Path, pages: list[dict]) -> None:
    """The assets, the gallery, the about page and one page per experiment, all into `stage`."""
    (stage / "assets").mkdir()
    for name in ASSETS:
        write_text(stage / "assets" / name, env.loader.get_source(env, name)[0])
    write_text(stage / "assets" / "pygments.css",
               HtmlFormatter(style="default").get_style_defs(".highlight") + "\n@media (prefers-color-scheme: dark) {\n"
               + HtmlFormatter(style="monokai").get_style_defs(".highlight") + "\n}\n")
    write_text(stage / ".nojekyll", "")
    write_page(env, stage, "index.html", "index.html", pages=pages)
    write_page(env, stage, "about.html", "about.html", figures=figures_shown(pages))
    for p in pages:
        write_page(env, stage, f"{p['name']}/index.html", "experiment.html", exp=p)
        if p["compare"]:
            write_page(env, stage, f"{p['name']}/compare.html", "compare.html", exp=p)


def compared(members: list[dict]) -> list[dict]:
    """A sweep's compare page: each animated figure its runs drew, with every run's drawing of it, for one
    player that steps them together."""
    kinds = {}
    for q in members:
        for f in q["figures"]:
            if f["frames"]:
                kinds.setdefault(f["name"], {"name": f["name"], "title": f["title"], "runs": []})["runs"].append(
                    {"run": q, "figure": f})
    return list(kinds.values())


def write_page(env: jinja2.Environment, stage: Path, path: str, template: str, **context) -> None:
    """Render `template` to `stage`/`path`; `root` leads back to the site's top from there (links stay relative)."""
    target = stage / path
    target.parent.mkdir(parents=True, exist_ok=True)
    root = "../" * path.count("/")
    write_text(target, render_template(env, template, root=root, version=__version__, **context))


def write_text(path: Path, text: str) -> None:
    """One file of the staging folder (which a failed build removes whole); a full disk names the file."""
    with naming(path):
        path.write_text(text)


def figures_shown(pages: list[dict]) -> list[dict]:
    """Each kind of figure on the site once, with the pages that show it (for the about page)."""
    kinds = {}
    for p in pages:
        for f in p["figures"]:
            shown = kinds.setdefault(f["kind"], {**f, "pages": []})["pages"]
            if p["name"] not in (q["name"] for q in shown):
                shown.append({"name": p["name"], "title": p["title"], "anchor": f["name"]})
    return list(kinds.values())
