"""The site's Jinja templates: a user's own folder first, then the shipped ones, always reachable as reportgen/<name>."""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import jinja2


def template_dirs(user: Path | None) -> list[Path]:
    """A user's own templates first, then the ones shipped with reportgen (installed, or this checkout)."""
    shipped = resources.files("reportgen") / "templates"
    if not shipped.is_dir():
        shipped = Path(__file__).resolve().parents[2] / "templates"
    return ([Path(user)] if user and Path(user).is_dir() else []) + [Path(str(shipped))]


def local(value):
    """What a page prints, with this machine's paths made its own: relative to the project (the working
    folder) or under ~, so that a published page shows neither the user's name nor their folders."""
    if not isinstance(value, str):
        return value
    here, home = os.getcwd(), os.path.expanduser("~")
    value = value.replace(here + os.sep, "") if here != os.sep else value
    return value.replace(home + os.sep, "~" + os.sep) if home not in ("", os.sep) else value


def jinja(user_templates: Path | None) -> jinja2.Environment:
    """Templates by name from the fallback chain; "reportgen/<name>" is always the shipped one, so that a
    user's experiment.html can extend the shipped experiment.html and override only a block."""
    dirs = template_dirs(user_templates)
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader([str(p) for p in dirs]),
                                  jinja2.PrefixLoader({"reportgen": jinja2.FileSystemLoader(str(dirs[-1]))})])
    env = jinja2.Environment(loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined, finalize=local)
    env.filters["number"] = lambda v: f"{v:.4g}" if isinstance(v, float) else "—" if v is None else v
    env.filters["size"] = lambda n: f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{max(n // 1000, 1)} kB"
    return env
