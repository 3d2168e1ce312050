"""Declarations as data: `--set` overrides, plain JSON configs and back, and run ids."""
from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
from dataclasses import fields, replace
from typing import Any

from .spec import SPECS, SpecError


# ---- overrides, configs and ids ------------------------------------------------------------------
def override(obj, assignment: str):
    """Apply one `a.b=value` to a spec; the value is a Python literal or a spec call like Tanh()."""
    path, sep, text = assignment.partition("=")
    if not sep or not path.strip():
        raise SpecError(f"--set {assignment!r}: expected FIELD=VALUE, e.g. model.depth=80")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        try:  # spec constructors such as LeakyReLU(negative_slope=2); nothing else is in scope
            value = eval(text, {"__builtins__": {}}, dict(SPECS))  # noqa: S307 - the user's own command line
        except SpecError:
            raise
        except Exception:
            value = text  # a bare word is a string
    return _set(obj, path.strip().split("."), value, path.strip())


def _set(obj, keys: list[str], value, path: str):
    if isinstance(obj, tuple) and obj and dataclasses.is_dataclass(obj[0]):  # e.g. a Compare's experiments.0, .*
        picked = range(len(obj)) if keys[0] == "*" else [int(keys[0])] if keys[0].isdigit() else []
        if not picked or picked[0] >= len(obj):
            raise SpecError(f"--set {path}: '{keys[0]}' is not an index of these {len(obj)} "
                            f"(allowed: 0 to {len(obj) - 1}, or * for every one)")
        new = lambda item: _set(item, keys[1:], value, path) if len(keys) > 1 else value  # noqa: E731
        return tuple(new(item) if i in picked else item for i, item in enumerate(obj))
    if isinstance(obj, dict):  # options of a factory or an optimizer: any key, their callee's signature decides
        return {**obj, keys[0]: _set(obj.get(keys[0]), keys[1:], value, path) if len(keys) > 1 else value}
    if not dataclasses.is_dataclass(obj) or keys[0] not in {f.name for f in fields(obj)}:
        allowed = ", ".join(f.name for f in fields(obj)) if dataclasses.is_dataclass(obj) else "none"
        raise SpecError(f"--set {path}: {type(obj).__name__} has no field '{keys[0]}' (allowed: {allowed})")
    if len(keys) > 1:
        value = _set(getattr(obj, keys[0]), keys[1:], value, path)
    return replace(obj, **{keys[0]: value})


def to_dict(obj) -> Any:
    """A spec as plain JSON-able data, each object tagged with its class name."""
    if dataclasses.is_dataclass(obj):
        return {"type": type(obj).__name__, **{f.name: to_dict(getattr(obj, f.name)) for f in fields(obj)}}
    if isinstance(obj, (tuple, list)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def from_dict(data: Any) -> Any:
    """The inverse of `to_dict`."""
    if isinstance(data, dict) and "type" in data:
        cls = SPECS.get(data["type"])
        if cls is None:
            raise SpecError(f"unknown type {data['type']!r} in a stored config")
        plain = getattr(cls, "PLAIN", ())
        return cls(**{k: v if k in plain else from_dict(v) for k, v in data.items() if k != "type"})
    if isinstance(data, list):
        return tuple(from_dict(v) for v in data)
    if isinstance(data, dict):
        return {k: from_dict(v) for k, v in data.items()}
    return data


# Fields that change what a run computes. Words, figure choices and claims do not: editing a title must not retrain.
PRESENTATION = ("title", "description", "tags", "figures", "claims")


def _computed(data: Any) -> Any:
    """A to_dict without claims at any depth (a sweep's base is an experiment), so claims never change an id, nor
    fields a spec lists in ADDED at their default values (added later: older runs keep their ids)."""
    if isinstance(data, dict):
        added = getattr(SPECS.get(data.get("type"), None), "ADDED", {}) if "type" in data else {}
        return {k: _computed(v) for k, v in data.items()
                if not (k == "claims" and "type" in data) and not (k in added and v == added[k])}
    return [_computed(v) for v in data] if isinstance(data, list) else data


def sources(obj, path: str = "") -> dict[str, str]:
    """{field path: hash of its source file} for every declaration in `obj` that has its own code (a factory)."""
    found = {path: obj.source()} if callable(getattr(obj, "source", None)) else {}
    if dataclasses.is_dataclass(obj):
        for f in fields(obj):
            found |= sources(getattr(obj, f.name), f"{path}.{f.name}".lstrip("."))
    elif isinstance(obj, (tuple, list)):
        for i, v in enumerate(obj):
            found |= sources(v, f"{path}[{i}]")
    return found


def run_id(obj) -> str:
    """A short hash of everything that decides what the run computes, the code of your own factories included."""
    data = {k: v for k, v in _computed(to_dict(obj)).items() if k not in PRESENTATION}
    if code := sources(obj):  # only then: the ids of runs without factories stay what they were
        data["sources"] = code
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]
