"""The one writer of `site/`: renders what changed into a staging folder beside it, writes the pages there,
and swaps it in whole. It writes; it never trains (the pipeline runs what is missing first)."""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..check import verdicts
from ..draw import figures, labels
from ..draw.style import Style
from ..store.entries import Entry, members
from ..store.io import DISK_ERRORS, RunError, naming
from ..store.lock import lock
from .frames import write_frames
from .cache import claims_key, figure_key, read_manifest, reuse, write_manifest
from .pages import compared, figure_context, page, write_pages
from .templates import jinja


class BuildError(Exception):
    """A build that cannot go on: one line saying why."""


@dataclass
class Rendered:
    """What rendering did, for the command line to print; `failed`: "<experiment>/<figure>: reason" lines."""
    rendered: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def writer(out: Path):
    """The lock one build holds on its output folder: a second one stops at once, naming the first's pid."""
    return lock(Path(out).with_name(f".{Path(out).name}.lock"), f"another reportgen build is running on {out}/")


@contextmanager
def staging(out: Path):
    """Yield a fresh folder beside `out`; on success it replaces `out`, on failure `out` is untouched. A
    build killed between the swap's two renames left the last site as .<out>.old: it is put back first."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage, old = out.with_name(f".{out.name}.new"), out.with_name(f".{out.name}.old")
    if old.exists() and not out.exists():
        os.replace(old, out)
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        with naming(out):
            yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(stage, out)
    shutil.rmtree(old, ignore_errors=True)


def site_formats(fig: figures.Figure) -> tuple[str, ...]:
    """What the site offers of a figure: its own formats, and an MP4 beside every GIF (about +0.2 s a figure,
    a third more render time: cheap beside training, and paid only when the figure is drawn again)."""
    return fig.formats + (("mp4",) if "gif" in fig.formats and "mp4" not in fig.formats else ())


def render_figure(entry: Entry, figure: str, folder: Path, style: Style, jobs: int | None) -> dict:
    """Render one figure into `folder`; what the manifest keeps of it (so a reuse needs no import). A figure
    that cannot be drawn for this run is {"failed": one line}: it must not stop the other figures and pages.
    A full or read-only disk stops the build: no figure can be written there."""
    name, options = figures.parse(figure)
    fig = figures.get(name)
    try:
        written = figures.render(entry.run, name, folder / figures.stem(figure), style, site_formats(fig), jobs,
                               **options)
    except figures.Skipped as e:
        return {"skipped": str(e)}
    except Exception as e:  # noqa: BLE001 - whatever a figure raises, the site shows it failed and goes on
        if isinstance(e, OSError) and e.errno in DISK_ERRORS:
            raise
        return {"failed": one_line(e), "title": fig.title}
    files = {fmt: p.name for fmt, p in written.items()}
    shown = labels.read(written["gif"]) if "gif" in written else []
    if len(shown) > 1:  # an animation: the frame player gets its frames' labels and the GIF as a script
        files["frames"] = write_frames(written["gif"]).name
    return {"files": files, "title": fig.title, "caption": fig.caption, "labels": shown}


def one_line(e: Exception) -> str:
    """An error as the one line a page and the command line show: a run's own errors as they are."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return text if isinstance(e, RunError) else f"{type(e).__name__}: {text}".rstrip(": ")


def render_figures(entry: Entry, stage: Path, old: Path, manifest: dict, style: Style,
                   report: Rendered, jobs: int | None) -> tuple[list[dict], list[dict]]:
    """Render (or reuse from the previous site) every figure of one experiment; return the page context of
    those drawn, and the failed ones' {"name", "title", "reason"}. A failure is drawn again next build."""
    shown, failed = [], []
    folder = stage / entry.name
    folder.mkdir(exist_ok=True)
    for figure in entry.experiment.figures:
        label = f"{entry.name}/{figures.stem(figure)}"
        try:
            key = figure_key(entry, figure, style)
        except RunError as e:
            done = {"failed": str(e), "title": figures.get(figures.parse(figure)[0]).title}
        else:
            done = manifest.get(label, {})
            if done.get("key") == key and "failed" not in done \
                    and reuse(done.get("files", {}), old / entry.name, folder):
                (report.skipped if "skipped" in done else report.reused).append(done.get("skipped", label))
            else:
                done = {"key": key, **render_figure(entry, figure, folder, style, jobs)}
                if "skipped" in done:
                    report.skipped.append(done["skipped"])
                elif "files" in done:
                    report.rendered.append(label)
        manifest[label] = done
        if "files" in done:
            shown.append(figure_context(entry, figure, done, folder, style))
        elif "failed" in done:
            report.failed.append(f"{label}: {done['failed']}")
            failed.append({"name": figures.stem(figure), "title": done["title"], "reason": done["failed"]})
    return shown, failed


def measured(entry: Entry, manifest: dict) -> list[dict]:
    """The page's claims with their verdicts, kept in the manifest and reused while nothing they read changed
    (measuring reads every epoch of the run)."""
    if not getattr(entry.experiment, "claims", ()):
        return []
    label, key = f"{entry.name}/claims", claims_key(entry)
    if manifest.get(label, {}).get("key") != key:
        manifest[label] = {"key": key, "claims": [vars(v) | {"mark": v.mark, "state": v.state}
                                                  for v in verdicts(entry)]}
    return manifest[label]["claims"]


def write(entries: list[Entry], out: Path, style: Style = Style(), clean: bool = False, jobs: int | None = None,
          templates: Path | None = Path("templates"), report: Rendered | None = None,
          strict: bool = False) -> Rendered:
    """Render every entry's figures (reusing the previous site's where nothing they depend on changed) and
    write all pages into a staging folder, then swap it in for `out`: a failed build leaves the last site.
    A figure that fails is shown failed on its page and listed in `report.failed`; `strict`: it fails the
    build instead, keeping the last site."""
    out, report = Path(out), report or Rendered()
    env = jinja(templates)
    with staging(out) as stage:
        manifest = {} if clean else read_manifest(out)
        pages = []
        # a sweep's runs get pages of their own, listed on the sweep's page instead of the gallery
        shown = [(m, None if m is e else e.name) for e in entries for m in (e, *members(e))]
        for entry, parent in shown:
            pages.append(page(entry, *render_figures(entry, stage, out, manifest, style, report, jobs), parent,
                              lambda: measured(entry, manifest)))
            report.failed += [f"{entry.name}: {problem}" for problem in pages[-1]["problems"]]
        if strict and report.failed:
            raise BuildError(f"{len(report.failed)} figures or runs failed, the last site is kept: "
                             f"{report.failed[0]}")
        for p in pages:
            p["members"] = [q for q in pages if q["parent"] == p["name"]]
            p["compare"] = compared(p["members"])
        write_pages(env, stage, pages)
        drawn = {f"{e.name}/{figures.stem(f)}" for e, _ in shown for f in e.experiment.figures} \
            | {f"{e.name}/claims" for e, _ in shown}
        write_manifest(stage, {label: done for label, done in manifest.items() if label in drawn})
    return report
