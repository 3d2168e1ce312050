"""Cost of reportgen.Recorder in a plain loop: benchmarks/recording.py's model (a 32-layer, width-256 MLP,
batch 128, Adam), (a) the plain step against (b) the step + rec.step(loss=..., optimizer=...) recording the
gradient statistics at every step (every=1), (c) at the default every=10, and (r) the built-in runner's
the step log (StepLog) at every=1, called as compute/train.py calls it; epoch() writes the chunk after each round (its cost
is in the round's). Snapshots are off: each costs one copy of the weights.
The variants take turns in rounds, so a busy machine slows both alike; the overhead is the median of the
per-round ratios to (a), with its interquartile range; wall and process CPU time (the steadier on a
shared machine). Target: at most 10 %.
Usage: python benchmarks/recording_api.py [threads]
"""
import importlib.util
import math
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import reportgen  # noqa: E402
from reportgen.compute.steplog import StepLog  # noqa: E402
from reportgen.store.rundir import Run  # noqa: E402

ROUNDS, STEPS, WARMUP = 15, 10, 2


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Runner:
    """The step log as compute/train.py drives it: its own step count, the lr given, an accuracy tensor."""

    def __init__(self, net, path: Path):
        self.rec, self.count, self.epochs = StepLog(net, Run(path), 1), 0, 0
        self.nan = torch.full((), math.nan)

    def step(self, loss, optimizer) -> None:
        self.count += 1
        self.rec.step(self.count, loss, self.nan, optimizer.param_groups[0]["lr"])

    def epoch(self) -> None:
        self.epochs += 1
        self.rec.epoch(self.epochs)

    def close(self) -> None:
        pass


def main() -> None:
    bench = load("recording")  # the gradient-statistics benchmark: its model and its summary line
    if len(sys.argv) > 1:
        torch.set_num_threads(int(sys.argv[1]))
    net = bench.model()
    opt = torch.optim.Adam(net.parameters(), lr=1e-5)
    data = bench.batches()
    folder = tempfile.TemporaryDirectory()
    variants = {"(a) plain loop": None, "(b) + Recorder, every=1": reportgen.Recorder(
        net, Path(folder.name) / "every-1", every=1, snapshots=None), "(c) + Recorder, every=10": reportgen.Recorder(
        net, Path(folder.name) / "every-10", every=10, snapshots=None),
        "(r) the runner's, every=1": Runner(net, Path(folder.name) / "runner")}

    def round_of_steps(rec) -> None:
        for _ in range(STEPS):
            x, y = next(data)
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            if rec:
                rec.step(loss=loss, optimizer=opt)
            opt.step()
        if rec:
            rec.epoch()
    times = bench.take_turns(variants, round_of_steps, ROUNDS, WARMUP)
    for rec in variants.values():
        if rec:
            rec.close()
    bench.report(net, variants, times, STEPS)


if __name__ == "__main__":
    main()
