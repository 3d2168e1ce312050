"""Beyond one machine: the units of a build or a run sent to Slurm (submitit) or Ray, waited for by polling
their run directories, then finished here (a sweep's collection, a split landscape's merge).

The local process pool (`compute.execute.execute_all`) stays the default; `options.configure` picks another.
`submit.py` sends and waits. An executor class (EXECUTORS, by options class) is made from its options and
the runs folder and offers `submit(units) -> handles` (each with .job and .log), `poll(handle)`: None while
the unit runs, else its failure's one-line reason or "" when it ended well, `alive(record)` for units sent
by an earlier command, and `close()`.
"""
from __future__ import annotations

from ..registry import Registry

EXECUTORS = Registry("executor")  # options class -> executor class; filled by slurm.py and ray.py
