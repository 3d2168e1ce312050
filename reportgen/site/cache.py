"""The render cache: what a rendered figure depends on (its run, options, style and code), and the manifest of
what the previous build drew, so that a build draws only what changed."""
from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
import os
import shutil
from pathlib import Path

from ..version import __version__
from ..declare import config
from ..draw import figures
from ..draw.style import Style
from ..store.entries import Entry
from ..store.io import naming

MANIFEST = ".reportgen-build.json"
MANIFEST_FORMAT = 3  # bump when what a build writes per figure changes: every figure is drawn again
PACKAGE = Path(__file__).resolve().parent.parent


def _candidates(base: str, names: list[str]) -> list[Path]:
    """The files `from base import names` may read: the module base, or base.name for each name."""
    root = PACKAGE.parent.joinpath(*base.split("."))
    return [root.with_suffix(".py"), root / "__init__.py"] + [root / f"{n}.py" for n in names]


@functools.lru_cache(maxsize=None)
def _module(path: Path, stamp: tuple[int, int]) -> tuple[str, tuple[Path, ...]]:
    """One module's source hash and the reportgen modules it imports, anywhere in it (also inside functions),
    read from its syntax tree (cached while the file is unchanged)."""
    text = path.read_text()
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            base = ".".join(p for p in (base, node.module) if p)
            found += _candidates(base, [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            found += [f for a in node.names for f in _candidates(a.name, [])]
    own = [f for f in found if f.is_file() and f.is_relative_to(PACKAGE) and f != PACKAGE / "__init__.py"]
    return hashlib.sha256(text.encode()).hexdigest(), tuple(dict.fromkeys(own))  # the version is keyed apart


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
    """The module of figure `name`: draw/figures/<name>.py by the house rule, else wherever it was registered."""
    path = PACKAGE / "draw" / "figures" / f"{name}.py"
    return path if path.is_file() else Path(inspect.getsourcefile(figures.get(name).make))


def run_parts(entry: Entry) -> list[str]:
    """What anything drawn or measured from a run depends on of the run: its id, how far it got, and when its
    status was last written (a run redone with `--clean` gets the same id, state and step, but a new time)."""
    status = entry.run.status
    return [__version__, str(MANIFEST_FORMAT), entry.run.id, status["state"], str(status["step"]),
            repr(status.get("updated"))]


def claims_key(entry: Entry) -> str:
    """Everything an experiment's claims' verdicts depend on: the run, the claims, the code measuring them."""
    parts = [*run_parts(entry), repr(entry.experiment.claims), code_hash(PACKAGE / "check" / "__init__.py")]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def figure_key(entry: Entry, figure: str, style: Style) -> str:
    """Everything a rendered figure (an entry of the experiment's figures) depends on: the run's content,
    the figure's code and options, and the style."""
    parts = [*run_parts(entry), figure, repr(style), code_hash(figure_source(figures.parse(figure)[0])),
             json.dumps({k: v for k, v in config.to_dict(entry.experiment).items() if k != "figures"}, sort_keys=True)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def read_manifest(out: Path) -> dict:
    """What the previous build drew, per "<experiment>/<figure>"; empty if there is none of this format."""
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return manifest["figures"] if manifest.get("format") == MANIFEST_FORMAT else {}


def write_manifest(stage: Path, manifest: dict) -> None:
    with naming(stage / MANIFEST):
        (stage / MANIFEST).write_text(json.dumps({"format": MANIFEST_FORMAT, "figures": manifest}, indent=1,
                                                 sort_keys=True))


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
