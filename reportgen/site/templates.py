"""The site's Jinja templates: a user's own folder first, then the shipped ones, always reachable as reportgen/<name>."""
from __future__ import annotations

import os
import traceback
from importlib import resources
from pathlib import Path

import jinja2


class TemplateError(Exception):
    """A template that cannot be rendered: one line naming its file, the line and what is wrong there."""


class _Folder(jinja2.FileSystemLoader):
    """Templates from folders; one that is not UTF-8 text is a TemplateError naming its file."""

    def get_source(self, environment, template):
        try:
            return super().get_source(environment, template)
        except UnicodeDecodeError as e:
            path = next(p for p in (Path(d, template) for d in self.searchpath) if p.is_file())
            raise TemplateError(f"{path}: not UTF-8 text (byte {e.start}: {e.object[e.start]:#04x})") from None


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
    loader = jinja2.ChoiceLoader([_Folder([str(p) for p in dirs]),
                                  jinja2.PrefixLoader({"reportgen": _Folder(str(dirs[-1]))})])
    env = jinja2.Environment(loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined, finalize=local)
    env.filters["number"] = lambda v: f"{v:.4g}" if isinstance(v, float) else "—" if v is None else v
    env.filters["size"] = lambda n: f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{max(n // 1000, 1)} kB"
    return env


def render_template(env: jinja2.Environment, name: str, **context) -> str:
    """Template `name` filled with `context`, or TemplateError naming the template file and line at fault
    (a user's own template: a syntax error, a name it uses that is not there, a parent that is not there)."""
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(f"{e.filename or e.name}:{e.lineno}: syntax error: {e.message}") from None
    except jinja2.TemplateError as e:
        what = f"no template {e.name!r} to extend or include" if isinstance(e, jinja2.TemplateNotFound) else e
        raise TemplateError(f"{_where(e)}: {what}") from None


def _where(e: Exception) -> str:
    """file:line of the innermost template in a traceback (jinja rewrites its frames to the template's lines)."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if not f.filename.endswith(".py")]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "a template"
