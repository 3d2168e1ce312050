"""`reportgen check`: the claims of the experiments' finished runs, one line each (registered in cli.py)."""
from __future__ import annotations

import sys

import click


def check(paths, runs, overrides) -> None:
    """Measure the claims of the experiments' finished runs: one line each, exit 1 unless all of them held."""
    from .check import verdicts
    from .pipeline import gather
    found = [(e, v) for e in gather(paths or ("experiments",), runs, overrides) for v in verdicts(e)]
    for e, v in found:
        click.echo(f"{v.mark} {e.name}: {v.says}: {v.measured}")
    held = sum(v.held is True for _, v in found)
    click.echo(f"{held} of {len(found)} claims held" if found else "no claims declared", err=True)
    if held < len(found):
        sys.exit(1)
