"""The bundled experiments, trained as the gallery trains them, hold every claim they make: under the gallery's
seed on one CPU thread and on two, and under two other seeds, one on each (minutes of CPU: run with
`pytest -m claims`, as CI does; one group of experiments with `-k <group>`, e.g. `-k dead-relus`)."""
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.claims
ROOT = Path(__file__).resolve().parent.parent
TALK = ("mlp16-leaky", "mlp26-linear", "mlp26-leaky", "mlp32-leaky2", "mlp80-leaky", "mlp80-leaky-x2.37",
        "mlp107-leaky2.25", "mlp116-tanh-x1.8", "sweep-lr-depth")
# every other bundled experiment that states an outcome, each a group of its own
CLAIMED = sorted(p.stem for p in (ROOT / "experiments").glob("*.py") if "claims=" in p.read_text())
GROUPS = {"talk": TALK, **{name: (name,) for name in CLAIMED if name not in TALK}}
# (threads, seed): both thread counts at the gallery's seed; each other seed at one of them. On two cores the
# one-thread pair trains side by side, then each two-thread setting alone.
SETTINGS = [(1, 0), (1, 1), (2, 0), (2, 2)]


def verdicts_at(threads: int, seed: int, runs: Path, names=TALK) -> list[tuple[str, bool | None, str]]:
    """Train the experiments `names` (a sweep's runs one after another) on `threads` CPU threads with `seed`, and
    measure their claims: [(experiment, held, the verdict's line)]."""
    import torch

    from reportgen.check import verdicts
    from reportgen.compute.execute import execute
    from reportgen.pipeline import gather
    from reportgen.store.entries import members, needs_run
    torch.set_num_threads(threads)
    found = []
    for name in names:
        script = ROOT / "experiments" / f"{name}.py"
        text = script.read_text()
        where = "base." if "Sweep(" in text else "experiments.*." if "Compare(" in text else ""
        overrides = (f"{where}seed={seed}",) if seed else ()
        for entry in gather((script,), runs, overrides):
            todo = [m for m in members(entry) if needs_run(m)]  # here, on these threads; then the sweep collects
            for each in todo + ([entry] if todo or needs_run(entry) else []):
                execute(each)
            found += [(entry.name, v.held, v.line()) for v in verdicts(entry)]
    return found


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict:
    """Per group, on first use: every setting trained in a process of its own, as many side by side as there
    are cores for their threads (on two cores: the one-thread settings two at a time, the two-thread ones one
    at a time; more would make the threads wait on each other)."""
    folder, found = tmp_path_factory.mktemp("claims"), {}

    def of(group: str) -> dict:
        if group not in found:
            found[group] = {}
            for threads in sorted({t for t, _ in SETTINGS}):
                settings = [s for s in SETTINGS if s[0] == threads]
                workers = max(1, min(len(settings), (os.cpu_count() or 1) // threads))
                with ProcessPoolExecutor(workers, multiprocessing.get_context("spawn")) as pool:
                    jobs = {s: pool.submit(verdicts_at, *s, folder / f"{group}-{s[0]}-threads-seed-{s[1]}",
                                           GROUPS[group]) for s in settings}
                    found[group] |= {s: job.result() for s, job in jobs.items()}
        return found[group]
    return of


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("threads, seed", SETTINGS, ids=[f"{t}-threads-seed-{s}" for t, s in SETTINGS])
def test_every_claim_of_the_gallery_holds(group, threads, seed, measured):
    found = measured(group)[threads, seed]
    assert found and [f"{name}: {line}" for name, held, line in found if not held] == []


if __name__ == "__main__":  # the measured values: python tests/test_gallery_claims.py THREADS SEED RUNS [GROUP]
    import sys
    for name, _, line in verdicts_at(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]),
                                     GROUPS[sys.argv[4] if len(sys.argv) > 4 else "talk"]):
        print(f"t{sys.argv[1]} s{sys.argv[2]} | {name} | {line}", flush=True)
