"""The one registry mechanism: things of one kind by name or by declaration type, filled by a decorator."""
from __future__ import annotations


def _word(key) -> str:
    return key.__name__ if isinstance(key, type) else str(key)


class Registry(dict):
    """A dict with a kind ("figure", "runner", ...) whose missing keys raise one line listing the known ones.

        FIGURES = Registry("figure")

        @FIGURES.register("gradient_diagram")
        class GradientDiagram: ...
    """

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, key, value=None):
        """Add `value` under `key`; with no value, a decorator that adds what it decorates."""
        if value is not None:
            self[key] = value
            return value

        def add(obj):
            self[key] = obj
            return obj
        return add

    def __missing__(self, key):
        known = ", ".join(sorted(map(_word, self))) or "none"
        raise KeyError(f"unknown {self.kind} {_word(key)!r} (known: {known})")
