"""Experiment scripts: found in folders, run, and their declarations collected with overrides applied."""
from __future__ import annotations

import runpy
import traceback
from pathlib import Path

from .config import override
from .spec import SPECS, SpecError


DEFAULT = Path("experiments")  # the default folder of scripts; a project of recorded runs may not have it
LOADING: list[Path] = []  # the scripts being run, innermost last: where experiment() finds a script's siblings


def scripts(paths: tuple[str | Path, ...]) -> list[Path]:
    """Experiment scripts named directly or found in folders (files starting with '_' are helpers)."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.glob("*.py") if not f.name.startswith("_"))
        elif p.suffix == ".py" and p.exists():
            found.append(p)
        elif p != DEFAULT:
            raise SpecError(f"{p}: no such experiment script or folder")
    return found


def load(path: str | Path, overrides: tuple[str, ...] = ()) -> list:
    """The experiments an experiment script declares (`EXPERIMENT` or `EXPERIMENTS`), overrides applied.

    Any error inside the script becomes one SpecError naming the file and line."""
    path = Path(path)
    if path.resolve() in {p.resolve() for p in LOADING}:
        raise SpecError(f"{path}: loads itself (through experiment(...))")
    LOADING.append(path)
    try:
        scope = runpy.run_path(str(path), run_name="__experiment__")
    except SyntaxError as e:
        raise SpecError(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
    except Exception as e:  # noqa: BLE001 - the script is user code; every failure is reported the same way
        lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if Path(f.filename) == path]
        where = f"{path}:{lines[-1]}" if lines else str(path)
        raise SpecError(f"{where}: {e if isinstance(e, SpecError) else f'{type(e).__name__}: {e}'}") from None
    finally:
        LOADING.pop()
    found = scope.get("EXPERIMENTS", [scope["EXPERIMENT"]] if "EXPERIMENT" in scope else None)
    if not found:
        raise SpecError(f"{path}: declares no EXPERIMENT (or EXPERIMENTS list)")
    declared = tuple(SPECS.values())
    result = []
    for exp in found:
        if not isinstance(exp, declared) or not hasattr(exp, "name"):
            raise SpecError(f"{path}: EXPERIMENT is a {type(exp).__name__}, expected Experiment(...)")
        for assignment in overrides:
            try:
                exp = override(exp, assignment)
            except SpecError as e:
                raise SpecError(f"{path}: {e}") from None
        result.append(exp)
    return result


def experiment(name: str):
    """The one experiment the script `name`.py declares, found beside the script being loaded (else in
    experiments/): what a Compare names, e.g. experiments=(experiment("mlp80-leaky"), experiment("mlp16-leaky"))."""
    path = (LOADING[-1].parent if LOADING else DEFAULT) / f"{name}.py"
    if not path.exists():
        raise SpecError(f"experiment({name!r}): no script {path}")
    found = load(path)
    if len(found) != 1:
        raise SpecError(f"experiment({name!r}): {path} declares {len(found)} experiments, expected one")
    return found[0]
