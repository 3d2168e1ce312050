"""Figures by name: each module registers one, declares what it needs from a run, and draws it."""
from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import inspect
import pkgutil
import re
import typing
from dataclasses import dataclass
from pathlib import Path

from ...declare.spec import describe, fits
from ...registry import Registry
from ...store.rundir import Run
from ..style import Style


@dataclass(frozen=True)
class Figure:
    name: str
    make: type                 # make(run_path, style, **options) -> an animate.Animation
    requires: tuple[str, ...]  # quantities the run must have recorded (Run.has)
    caption: str               # what it shows and how to read it (HTML allowed: it is ours)
    formats: tuple[str, ...]   # what a build writes by default
    title: str


FIGURES = Registry("figure")


def figure(name: str, *, title: str, caption: str, requires: tuple[str, ...] = (),
           formats: tuple[str, ...] = ("gif", "png")):
    """Register the decorated Animation class as the figure `name`."""
    def add(cls):
        FIGURES.register(name, Figure(name, cls, requires, " ".join(caption.split()), formats, title))
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
    """Figure `name`, importing only its module when it follows the house rule (figure x is figures/x.py)."""
    if name.isidentifier() and importlib.util.find_spec(f"{__name__}.{name}"):
        importlib.import_module(f"{__name__}.{name}")
    return (FIGURES if name in FIGURES else load_all())[name]


def parse(entry: str) -> tuple[str, dict]:
    """A figure as an experiment lists it: its name, or name(option=value, ...) with literal values, e.g.
    "trajectory_map(projection='mds')"; ValueError otherwise."""
    try:
        call = ast.parse(entry.strip(), mode="eval").body
        if isinstance(call, ast.Name):
            return call.id, {}
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and not call.args \
                and all(k.arg for k in call.keywords):
            return call.func.id, {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError):
        pass
    raise ValueError(f"{entry!r} is not a figure name, nor name(option=value, ...) with literal values")


def stem(entry: str) -> str:
    """The files' name for a figure entry: gradient_diagram, trajectory_map-projection_mds, ..."""
    name, options = parse(entry)
    words = [k if v is True else f"no_{k}" if v is False else f"{k}_{v}" for k, v in options.items()]
    return re.sub(r"[^\w.-]", "_", "-".join([name, *words]))


def options(name: str) -> dict[str, tuple[object, object]]:
    """The options figure `name` takes, its keyword arguments after the run and the style: {option: (type,
    default)}."""
    make = get(name).make
    hints = typing.get_type_hints(make.__init__)
    return {key: (hints[key], p.default) for key, p in list(inspect.signature(make).parameters.items())[2:]}


def check(name: str, given: dict) -> None:
    """ValueError, one line, unless figure `name` takes each option `given` with a value of its type."""
    try:
        takes = options(name)
    except KeyError as e:
        raise ValueError(e.args[0]) from None
    for key, value in given.items():
        if key not in takes:
            raise ValueError(f"{name}: no option {key!r} (options: {', '.join(takes) or 'none'})")
        if not fits(value, takes[key][0]):
            raise ValueError(f"{name}({key}={value!r}): expected {describe(takes[key][0])}")


def render(run: Run, name: str, out: Path, style: Style = Style(), formats: tuple[str, ...] | None = None,
         jobs: int | None = None, **options) -> dict[str, Path]:
    """Render figure `name` of `run` to `out`.<format> files; `options` as `check` allows them."""
    check(name, options)
    fig = get(name)
    missing = [q for q in fig.requires if not run.has(q)]
    if missing:
        raise Skipped(f"{name}: run {run.path.name} did not record {', '.join(missing)}")
    from .. import animate   # the engine (and matplotlib) only where something is drawn
    make = functools.partial(fig.make, str(run.path), **options)
    return animate.render(make, out, formats or fig.formats, style, jobs)


def check_all(entries: tuple[str, ...]) -> None:
    """ValueError, one line, unless every figure entry (name or name(options)) names a figure that takes its
    options, each once. Names are read from the modules' names (the figure `x` is figures/x.py), so that no
    figure is imported unless it is given options, whose types only the figure itself declares."""
    known = {m.name for m in pkgutil.iter_modules(__path__)}
    stems = set()
    for entry in entries:
        name, given = parse(entry)
        if name not in known:
            raise ValueError(f"unknown figure {name!r} (known: {', '.join(sorted(known))})")
        if given:
            check(name, given)
        if stem(entry) in stems:
            raise ValueError(f"{entry!r} is listed twice")
        stems.add(stem(entry))
