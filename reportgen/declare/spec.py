"""The declaration machinery: frozen, type-checked dataclasses (`@spec`), their one-line errors, the registry."""
from __future__ import annotations

import functools
import types
import typing
from dataclasses import dataclass, fields
from typing import Any, Union

from ..registry import Registry


class SpecError(ValueError):
    """A bad value in an experiment: one line naming the field, the value and what is allowed."""


SPECS = Registry("declaration")  # every declarable class by name: for overrides and reading configs back


def spec(cls):
    """Make `cls` a frozen keyword-only dataclass whose fields are type-checked, then value-checked."""
    cls = dataclass(frozen=True, kw_only=True)(cls)
    names = [f.name for f in fields(cls)]
    init = cls.__init__

    def __init__(self, *args, **kwargs):
        if args:
            raise SpecError(f"{cls.__name__}: give fields by name, e.g. {cls.__name__}({names[0]}=...)"
                            if names else f"{cls.__name__}() takes no values")
        for key in kwargs:
            if key not in names:
                raise SpecError(f"{cls.__name__}: unknown field '{key}' (allowed: {', '.join(names) or 'none'})")
        init(self, **kwargs)
        hints = _hints(cls)
        for f in fields(cls):
            value = getattr(self, f.name)
            if not fits(value, hints[f.name]):
                raise SpecError(f"{cls.__name__}.{f.name} = {value!r}: expected {describe(hints[f.name])}")
            if isinstance(value, list):  # lists are accepted for tuples; stored as tuples so specs hash
                object.__setattr__(self, f.name, tuple(value))
        self.check()

    cls.__init__ = __init__
    cls.check = getattr(cls, "check", lambda self: None)
    SPECS[cls.__name__] = cls
    return cls


@functools.cache
def _hints(cls) -> dict:
    """A spec's field types, resolved once (forward references to any declared class allowed)."""
    return typing.get_type_hints(cls, localns=dict(SPECS))


def fits(value, hint) -> bool:
    """Whether `value` is of the type `hint` as declarations write it (an int is a float, a list a tuple)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (Union, types.UnionType):
        return any(fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(fits(v, a) for v, a in zip(value, args))
    if origin is dict:
        return isinstance(value, dict) and all(fits(k, args[0]) and fits(v, args[1]) for k, v in value.items())
    return isinstance(value, hint)


def describe(hint) -> str:
    """A type as the one-line errors name it."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is tuple:
        inner = f"{describe(args[0])}, ..." if args[-1] is Ellipsis else ", ".join(describe(a) for a in args)
        return f"a tuple ({inner})"
    if hint is type(None):
        return "None"
    if origin is dict:
        return f"a dict of {describe(args[0])} to {describe(args[1])}"
    if isinstance(hint, type) and hint.__name__ in SPECS:
        return f"{hint.__name__}(...)"
    return getattr(hint, "__name__", str(hint))


def require(ok: bool, obj, name: str, allowed: str) -> None:
    """Raise the one-line error for field `name` of `obj` unless `ok`."""
    if not ok:
        raise SpecError(f"{type(obj).__name__}.{name} = {getattr(obj, name)!r}: allowed: {allowed}")


def within(obj, name: str, low: int, high: int, what: str = "an integer") -> None:
    """Raise the one-line error for field `name` of `obj` unless it lies in [low, high]: every size has an
    upper bound, so that a typo like 10**30 stops here, not after it has taken the machine's memory."""
    require(low <= getattr(obj, name) <= high, obj, name, f"{what} from {low} to {high}")
