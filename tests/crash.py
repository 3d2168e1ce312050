"""Crash at every write point: `python tests/crash.py KIND FOLDER` (KIND: run, sweep or build) runs the
project in FOLDER once in a child process to count its write points (every os.replace: the moment a file
becomes visible), then, for each point k and each side of it, copies the project to FOLDER/k-before and
FOLDER/k-after, runs it in a child that kills itself with SIGKILL just before (or after) its k-th rename,
and then once more to completion. It prints one JSON line per attempt; the test compares the folders.

Children are forked from this process, which imports everything but computes nothing before forking, so
each child starts from the same state as a fresh `reportgen` process at a fraction of the cost."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

SCRIPTS = {
    "run": """
from reportgen.declare import *
EXPERIMENT = Experiment(
    name="crash", model=MLP(depth=3, width=16), data=Synthetic(n_train=96, n_test=32, shape=(1, 4, 4), classes=3),
    optimizer=Adam(lr=(1e-3, 1e-4)), schedule=Warmup(steps=4), clip=Clip(probe=4), epochs=2, batch_size=48,
    record=Record(every=2, snapshots=2), landscape=Landscape(line=5, plane=3, samples=32, around="final"),
    figures=("lr_schedule",),
)
""",
    "sweep": """
from reportgen.declare import *
EXPERIMENT = Sweep(
    name="crash", base=Experiment(name="base", model=MLP(depth=2, width=8),
                                  data=Synthetic(n_train=64, n_test=16, shape=(1, 4, 4), classes=3), epochs=1,
                                  batch_size=32, record=Record(every=2, snapshots=1)),
    grid={"optimizer.lr": (1e-3, 1e-2)},
)
""",
}
# the build: the run's site exists; the title changes, so its figure is drawn again and its page differs
BUILD_CHANGE = ('name="crash",', 'name="crash", title="Changed",')


def same(a, b) -> bool:
    """Equal nested checkpoint contents: tensors, arrays, dicts, lists, numbers (NaN equal to NaN)."""
    import numpy as np
    import torch
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    return a == b or (a != a and b != b)


def files(folder: Path) -> dict[str, Path]:
    """Every file under `folder` by its relative name, temporary ones included."""
    return {str(p.relative_to(folder)): p for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def copy(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True)


def child(task, k: int = 0, when: str = "") -> int:
    """Run `task()` in a forked child that kills itself at its k-th rename (k = 0: never); its exit code,
    -9 if it was killed, or, with k < 0, the number of renames it made."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        real, count = os.replace, [0]

        def replace(*args, **kwargs):
            count[0] += 1
            if count[0] == k and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            real(*args, **kwargs)
            if count[0] == k and when == "after":
                os.kill(os.getpid(), signal.SIGKILL)
        os.replace = replace
        code = 0
        try:
            task()
        except BaseException:  # noqa: BLE001 - the child reports any failure by its exit code
            import traceback
            traceback.print_exc()
            code = 1
        os.write(write, str(count[0]).encode())
        os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    renames = os.read(read, 64).decode()
    os.close(read)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    if k < 0:
        assert os.WEXITSTATUS(status) == 0, "the uninterrupted attempt failed"
        return int(renames)
    return os.WEXITSTATUS(status)


def task(kind: str, folder: Path):
    """What one attempt does in `folder`: run the experiment (run, sweep) or build the site (build)."""
    def go():
        os.chdir(folder)
        from reportgen import pipeline
        from reportgen.compute.execute import execute
        if kind == "build":
            pipeline.build(("experiments",), Path("runs"), Path("site"), templates=None, jobs=1)
        else:
            entry, = pipeline.gather(("experiments",), Path("runs"))
            execute(entry)
    return go


def prepare(kind: str, folder: Path) -> Path:
    """The project every attempt starts from: FOLDER/start (for a build: its runs done, its site built)."""
    start = folder / "start"
    (start / "experiments").mkdir(parents=True)
    script = start / "experiments" / "crash.py"
    script.write_text(SCRIPTS["run" if kind == "build" else kind])
    if kind == "build":  # trained in a child; built here, which warms what every build's child draws with
        assert child(task("run", start)) == 0
        task("build", start)()
        script.write_text(script.read_text().replace(*BUILD_CHANGE))
    return start


def main(kind: str, folder: Path) -> None:
    import torch
    import torch._dynamo  # noqa: F401 - what torch.optim imports on first use: seconds, paid once here

    import reportgen.compute.projection  # noqa: F401 - load what every child needs, compute nothing
    import reportgen.compute.stats  # noqa: F401
    import reportgen.pipeline  # noqa: F401
    from reportgen.draw import animate, figures  # noqa: F401
    figures.load_all()
    torch.set_num_threads(1)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core: a sweep trains its runs in turn, here
    start = prepare(kind, folder)
    copy(start, folder / "whole")
    points = child(task(kind, folder / "whole"), k=-1)
    print(json.dumps({"points": points}), flush=True)
    for k in range(1, points + 1):
        for when in ("before", "after"):
            here = folder / f"{k}-{when}"
            copy(start, here)
            killed = child(task(kind, here), k, when)
            if kind == "build":  # what a reader sees now: the site, or the one a killed swap set aside
                seen = here / "site" if (here / "site").exists() else here / ".site.old"
                copy(seen, here / "seen")
            resumed = child(task(kind, here))
            print(json.dumps({"point": k, "when": when, "killed": killed, "resumed": resumed}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
