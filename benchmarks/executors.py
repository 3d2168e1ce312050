"""One sweep of 8 small runs four ways: in this process one after another, on 2 local processes (`--jobs 2`),
on submitit's local executor and on a Ray started here (each unit 1 CPU), side by side in one run.
Targets: per-unit overhead ≤ 1 s on Ray, ≤ 3 s on submitit-local.

The overhead per unit is what a unit costs beyond its run's own time: (wall × slots − the in-process total)
/ units, with `slots` the units that can run at once here (2: the machine's cores). Each way starts from an
empty runs folder. Usage: python benchmarks/executors.py (alone on the machine)
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reportgen.compute.execute import execute, execute_all  # noqa: E402
from reportgen.executors.submit import submit  # noqa: E402
from reportgen.executors.options import Ray, Slurm  # noqa: E402
from reportgen.pipeline import gather  # noqa: E402
from reportgen.store.entries import members  # noqa: E402

SCRIPT = """
from reportgen.declare import *
EXPERIMENT = Sweep(
    name="bench", base=Experiment(name="b", model=MLP(depth=4, width=64),
                                  data=Synthetic(n_train=2048, n_test=256, shape=(1, 8, 8), classes=4),
                                  epochs=3, batch_size=64, record=Record(every=4, snapshots=2)),
    grid={"optimizer.lr": (1e-3, 3e-3), "model.depth": (3, 4, 5, 6)},
)
"""
SLOTS = 2


def fresh(root: Path):
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "x.py").write_text(SCRIPT)
    entry = gather((root / "x.py",), root / "runs")[0]
    return entry, members(entry)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="bench-executors-"))
    entry, units = fresh(root)
    walls = {"in-process": timed(lambda: [execute(m) for m in units])}
    entry, units = fresh(root)
    walls["2 local processes"] = timed(lambda: list(execute_all(units, SLOTS)))
    entry, units = fresh(root)
    walls["submitit-local"] = timed(lambda: submit([entry], Slurm(cluster="local", cpus=1), root / "runs"))
    import ray
    start = time.perf_counter()
    ray.init(num_cpus=SLOTS, include_dashboard=False, log_to_driver=False, configure_logging=False)
    started = time.perf_counter() - start
    entry, units = fresh(root)
    walls["ray (local)"] = timed(lambda: submit([entry], Ray(cpus=1), root / "runs"))
    ray.shutdown()
    own = walls["in-process"]
    print(f"{len(units)} runs, {own / len(units):.2f} s each in-process; {SLOTS} slots; ray.init took {started:.1f} s "
          f"(not counted)")
    print(f"{'executor':20s} {'wall':>8s} {'overhead/unit':>14s} {'vs in-process':>14s}")
    for name, wall in walls.items():
        slots = 1 if name == "in-process" else SLOTS
        print(f"{name:20s} {wall:7.2f}s {(wall * slots - own) / len(units):13.2f}s {wall / own:13.2f}x")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
