"""What each executor takes, type-checked like a declaration, from `--executor-option` and reportgen.toml."""
from __future__ import annotations

import ast
import tomllib
from dataclasses import fields, replace
from pathlib import Path

from ..declare.spec import SpecError, require, spec, within

CONFIG = Path("reportgen.toml")  # the project's config: its [executor] table holds the defaults


@spec
class Slurm:
    """submitit: each unit a Slurm job, the units of one submission a job array."""
    partition: str | None = None
    gpus: int = 0  # per unit
    cpus: int = 1  # per unit; also its torch threads
    mem_gb: float | None = None
    time: int = 240  # minutes a unit may run; past it, it is requeued and resumes from its checkpoint
    array_parallelism: int = 256  # units of one array running at once
    requeues: int = 3  # how often a unit is requeued after a time limit or preemption
    sbatch: dict[str, str | int | float] | None = None  # further sbatch options, e.g. {"account": "lab", "qos": "high"}
    cluster: str = "auto"  # "slurm", "local" (submitit's local executor: subprocesses here) or "auto"
    logs: str | None = None  # where submitit keeps jobs' pickles and logs (default: <runs>/.submitit)
    landscape_units: int = 1  # parts each landscape's planes are split into (1: computed with the run)

    def check(self) -> None:
        object.__setattr__(self, "sbatch", dict(self.sbatch or {}))
        require(self.cluster in ("auto", "slurm", "local"), self, "cluster", "'auto', 'slurm' or 'local'")
        for name, high in (("gpus", 64), ("cpus", 1024), ("time", 60 * 24 * 365), ("array_parallelism", 10**6),
                           ("requeues", 1000), ("landscape_units", 10**4)):
            within(self, name, 0 if name in ("gpus", "requeues") else 1, high)
        require(self.mem_gb is None or 0 < self.mem_gb <= 2**20, self, "mem_gb", "a positive number of GB or None")


@spec
class Ray:
    """Ray: each unit a task on an existing cluster (`address`, or $RAY_ADDRESS) or on one started here."""
    address: str | None = None
    gpus: float = 0  # per unit
    cpus: float = 1  # per unit; also its torch threads (at least 1)
    landscape_units: int = 1

    def check(self) -> None:
        require(0 <= self.gpus <= 64, self, "gpus", "a number of GPUs from 0 to 64 (fractions share one)")
        require(0 < self.cpus <= 1024, self, "cpus", "a number of CPUs > 0 and <= 1024")
        within(self, "landscape_units", 1, 10**4)


KINDS = {"slurm": Slurm, "ray": Ray}


def configure(name: str | None, pairs: tuple[str, ...], config: Path = CONFIG):
    """The chosen executor's options (None: the local process pool): reportgen.toml's [executor] table,
    then each KEY=VALUE of the command line over it. Every mistake is one SpecError naming its source."""
    table = _table(config)
    default = table.pop("name", None)
    name = name or default
    if name in (None, "local"):
        if pairs:
            raise SpecError(f"--executor-option {pairs[0]}: the local executor takes no options (use --jobs)")
        return None
    if name not in KINDS:
        raise SpecError(f"--executor {name!r}: allowed: local, {', '.join(KINDS)}")
    cls = KINDS[name]
    try:
        options = cls(**table)
    except SpecError as e:
        raise SpecError(f"{config} [executor]: {e}") from None
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or key not in {f.name for f in fields(cls)}:
            raise SpecError(f"--executor-option {pair!r}: expected KEY=VALUE with KEY one of "
                            f"{', '.join(f.name for f in fields(cls))}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a bare word is a string: partition=gpu
        try:
            options = replace(options, **{key: value})
        except SpecError as e:
            raise SpecError(f"--executor-option {pair!r}: {e}") from None
    return options


def _table(config: Path) -> dict:
    if not config.exists():
        return {}
    try:
        table = tomllib.loads(config.read_text()).get("executor", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SpecError(f"{config}: not valid TOML ({e})") from None
    if not isinstance(table, dict):
        raise SpecError(f"{config}: [executor] must be a table, e.g. [executor] name = \"slurm\"")
    return dict(table)
