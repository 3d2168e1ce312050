"""Your own model or dataset by import path ("package.module:function"), from the project folder or an installed
package; the file that defines it is part of the run id, so editing it makes a new run."""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import sys
from dataclasses import field
from pathlib import Path
from typing import Any

from .spec import SpecError, require, spec

PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
ALLOWED = "'module:function', the module importable from the project folder or an installed package"


@contextlib.contextmanager
def project_path():
    """The working directory (the project folder) first on sys.path while a factory is found or imported:
    console scripts do not put it there."""
    here = os.getcwd()
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        yield
    finally:
        if added:
            sys.path.remove(here)


def _fail(obj, why: str):
    return SpecError(f"{type(obj).__name__}.factory = {obj.factory!r}{where(obj)}: {why}")


def where(obj) -> str:
    """" (path/to/file.py)" for the file that defines the factory, or "" where it cannot be found."""
    path = source_file(obj)
    if path is None:
        return ""
    with contextlib.suppress(ValueError):
        path = path.resolve().relative_to(Path.cwd().resolve())
    return f" ({path})"


_LOADED: dict[str, tuple[str, int]] = {}  # module -> (its file, its mtime) when this process imported it


def _drop_stale(module: str) -> None:
    """Forget an imported module that the path would no longer find (another project's folder) or whose file has
    changed since this process imported it (a long `reportgen serve`): else its old code would run under the new
    file's run id."""
    found = sys.modules.pop(module, None)
    file = getattr(found, "__file__", None)
    if found is None or file is None:
        if found is not None:
            sys.modules[module] = found
        return
    with contextlib.suppress(ImportError, ValueError, OSError):
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin == file and _LOADED.get(module, (file, os.stat(file).st_mtime_ns)) \
                == (file, os.stat(file).st_mtime_ns):
            sys.modules[module] = found
            return
    _LOADED.pop(module, None)


def source_file(obj) -> Path | None:
    """The file of the factory's module, found without running it (its parent packages are imported)."""
    module = obj.factory.partition(":")[0]
    with project_path(), contextlib.suppress(ImportError, ValueError, AttributeError):
        _drop_stale(module)
        found = importlib.util.find_spec(module)
        if found is not None and found.origin and Path(found.origin).is_file():
            return Path(found.origin)
    return None


def resolve(obj):
    """The function `obj.factory` names, imported; one SpecError when it does not import or is not callable."""
    module, _, name = obj.factory.partition(":")
    with project_path():
        _drop_stale(module)
        try:
            found = importlib.import_module(module)
            if getattr(found, "__file__", None):
                _LOADED.setdefault(module, (found.__file__, os.stat(found.__file__).st_mtime_ns))
        except Exception as e:  # noqa: BLE001 - the user's module: every failure to import reads the same
            raise _fail(obj, f"does not import ({type(e).__name__}: {e}); allowed: {ALLOWED}") from None
    fn = found
    for part in name.split("."):
        if not hasattr(fn, part):
            raise _fail(obj, f"{module} has no {part!r}; allowed: {ALLOWED}")
        fn = getattr(fn, part)
    if not callable(fn):
        raise _fail(obj, f"{name} is a {type(fn).__name__}, not callable; allowed: a function {obj.RETURNS}")
    return fn


def _check(obj) -> None:
    require(bool(PATH.match(obj.factory)), obj, "factory", ALLOWED + ", e.g. 'mypkg.models:resnet18'")


def _source(obj) -> str:
    """A hash of the whole file that defines the factory (a helper beside it counts too); "" if not found."""
    path = source_file(obj)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path else ""


@spec
class Module:
    """Your own network: `factory` is called as function(shape, classes, **options), with the input shape of one
    sample, the number of classes and `options`, and returns an nn.Module whose output is [batch, classes]."""
    factory: str
    options: dict[str, Any] = field(default_factory=dict)
    RETURNS = "returning an nn.Module"
    check = _check
    source = _source

    def check_input(self, data) -> None:
        pass

    def parameters(self, data) -> int:
        return 0  # unknown until it is built


@spec
class Dataset:
    """Your own data: `factory` is called as function(**options) and returns (x_train, y_train, x_test, y_test)
    tensors, or (train, test) torch datasets of (x, y) pairs; y are class indices 0..classes-1. `classes`: how
    many there are (None: the largest label + 1), which claims about chance need."""
    factory: str
    options: dict[str, Any] = field(default_factory=dict)
    classes: int | None = None
    RETURNS = "returning (x_train, y_train, x_test, y_test) or (train, test)"
    shape = None   # of one sample: known once the factory has run
    source = _source

    def check(self):
        _check(self)
        require(self.classes is None or self.classes >= 2, self, "classes", "None or an integer >= 2")
