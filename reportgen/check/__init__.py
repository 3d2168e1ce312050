"""Claims measured from the run directory alone, like a figure (numpy, never torch): each claim's verdict, for
the pages and `reportgen check`. A run's claims are in runs.py, a sweep's in sweeps.py."""
from __future__ import annotations

from ..store.entries import Entry
from .runs import MEASURES, Verdict
from . import sweeps  # noqa: F401 - registers the sweep's claims in MEASURES

__all__ = ["MEASURES", "Verdict", "verdicts"]


def verdicts(entry: Entry) -> list[Verdict]:
    """Every claim the entry's declaration makes, measured from its run (a sweep's: one verdict per run a
    Runs names)."""
    return [v for claim in getattr(entry.experiment, "claims", ()) for v in MEASURES[type(claim)](claim, entry)]
