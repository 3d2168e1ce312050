"""The house in layers: the rules of docs/architecture.md, each a test that fails when the code breaks it."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "reportgen"
# what each room may import of reportgen (besides itself, registry.py and version.py); the top (cli, pipeline, api)
# may import all
ALLOWED = {"declare": set(), "store": {"declare"}, "compute": {"declare", "store"}, "draw": {"declare", "store"},
           "check": {"declare", "store"}, "site": {"declare", "store", "draw", "check"}}


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The reportgen modules `name` imports anywhere in it (inside functions too): `from a.b import c` is a.b.c
    where that is a module, else a.b; a package's parents are not counted (they are imported first anyway)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            base = ".".join(p for p in (base, node.module) if p)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m in known and m != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "top"


def test_no_import_circle_anywhere(graph):
    state, circles = {}, []

    def visit(m, path):
        state[m] = "open"
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                circles.append(path[path.index(n):] + [n] if n in path else [m, n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert circles == []


def test_each_room_imports_only_the_rooms_below_it(graph):
    against = [f"{m} -> {n}" for m, ns in graph.items() for n in ns
               if room(m) in ALLOWED and room(n) not in ALLOWED[room(m)] | {room(m), "registry", "version"}]
    assert against == []


def test_the_drawing_layer_and_the_site_load_no_torch():
    code = ("import sys, importlib, pkgutil; import reportgen.draw.figures as f; f.load_all(); "
            "import reportgen.check, reportgen.draw.animate, reportgen.draw.calibration, reportgen.site.build, reportgen.site.serve, "
            "reportgen.site.publish; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_site_writes_and_never_trains(graph):
    assert [f"{m} -> {n}" for m, ns in graph.items() if room(m) == "site" for n in ns
            if room(n) in ("compute", "pipeline")] == []


def test_one_registry_mechanism_fills_every_registry():
    from reportgen.compute.data import DATASETS
    from reportgen.compute.models import ACTIVATIONS, MODELS
    from reportgen.compute.optim import OPTIMIZERS, SCHEDULES
    from reportgen.compute.runners import CHECKS, RUNNERS
    from reportgen.declare.spec import SPECS
    from reportgen.draw.encode import ENCODERS
    from reportgen.draw.figures import FIGURES, load_all
    from reportgen.registry import Registry
    load_all()
    registries = (SPECS, MODELS, ACTIVATIONS, DATASETS, OPTIMIZERS, SCHEDULES, RUNNERS, CHECKS, ENCODERS, FIGURES)
    assert all(type(r) is Registry and len(r) for r in registries)
    with pytest.raises(KeyError, match="unknown figure 'nope' .known: activations, compare_gradients, compare_loss"):
        FIGURES["nope"]
    # every declaration a run can be made of has its runner, every model, dataset and optimizer its builder
    from reportgen import declare
    from typing import get_args
    assert set(get_args(declare.Model)) <= set(MODELS) and set(get_args(declare.Data)) <= set(DATASETS)
    assert set(get_args(declare.Optimizer)) <= set(OPTIMIZERS) and set(get_args(declare.Schedule)) <= set(SCHEDULES)
    assert set(get_args(declare.Activation)) <= set(ACTIVATIONS)


def test_the_declared_race_names_are_the_computed_ones():
    from reportgen.compute.race import FUNCTIONS
    from reportgen.declare.demos import BOUNDED
    from reportgen.declare.demos import FUNCTIONS as NAMES
    assert tuple(FUNCTIONS) == NAMES and tuple(n for n, f in FUNCTIONS.items() if f.minima) == BOUNDED


def test_the_kernel_is_a_cpp_file_not_a_string():
    assert (PACKAGE / "compute" / "kernels" / "grad_stats.cpp").is_file()
    assert not any("#include" in p.read_text() for p in PACKAGE.rglob("*.py"))


def test_one_name_per_class():
    names = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                names.setdefault(node.name, []).append(str(path.relative_to(PACKAGE)))
    assert {n: where for n, where in names.items() if len(where) > 1} == {}


def test_files_are_short_and_say_what_they_own():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) <= 300, path
        doc = ast.get_docstring(ast.parse(text))
        assert doc and doc.strip(), path
