"""Figures by name: each module registers one, declares what it needs from a run, and draws it."""
from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

from ..animate import Style, render
from ..rundir import Run


@dataclass(frozen=True)
class Figure:
    name: str
    make: type                 # make(run_path, style, **options) -> an animate.Animation
    requires: tuple[str, ...]  # quantities the run must have recorded (Run.has)
    caption: str               # what it shows and how to read it (HTML allowed: it is ours)
    formats: tuple[str, ...]   # what a build writes by default
    title: str


FIGURES: dict[str, Figure] = {}


def figure(name: str, *, title: str, caption: str, requires: tuple[str, ...] = (),
           formats: tuple[str, ...] = ("gif", "png")):
    """Register the decorated Animation class as the figure `name`."""
    def add(cls):
        FIGURES[name] = Figure(name, cls, requires, " ".join(caption.split()), formats, title)
        return cls
    return add


def load_all() -> dict[str, Figure]:
    """Import every module of this package, so each registers its figure."""
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    return FIGURES


class Skipped(Exception):
    """The run did not record what the figure needs; the message says what."""


def get(name: str) -> Figure:
    known = load_all()
    if name not in known:
        raise KeyError(f"unknown figure {name!r} (known: {', '.join(sorted(known))})")
    return known[name]


def draw(run: Run, name: str, out: Path, style: Style = Style(), formats: tuple[str, ...] | None = None,
         jobs: int | None = None, **options) -> dict[str, Path]:
    """Render figure `name` of `run` to `out`.<format> files."""
    fig = get(name)
    missing = [q for q in fig.requires if not run.has(q)]
    if missing:
        raise Skipped(f"{name}: run {run.path.name} did not record {', '.join(missing)}")
    make = functools.partial(fig.make, str(run.path), **options)
    return render(make, out, formats or fig.formats, style, jobs)
