"""Cost of recording gradient statistics at every step of a 32-layer, width-256 MLP (batch 128, Adam).

(a) plain step; (b) + grad_stats and the global norm from its per-tensor norms, copied to the host once per
step (the recorder copies once an epoch); each step takes the next of a few random batches;
(c) + the talk's one-liner; (d) = (b) on the sort path (the GPU's, and the CPU's without a C++ compiler).
The variants take turns in short rounds, so a busy machine slows all of them alike; the spread is the
interquartile range over rounds, the overhead the median of per-round ratios to (a). Wall time and the
process's CPU time are both shown: on a shared machine the CPU time is the steadier of the two.
Usage: python benchmarks/recording.py [threads]
"""
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reportgen.compute import stats  # noqa: E402

ROUNDS, STEPS, WARMUP = 15, 4, 3   # warm-up in rounds


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    sizes = [3 * 32 * 32] + [256] * 31 + [100]
    layers = [torch.nn.Flatten()]
    for a, b in zip(sizes, sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def batches(count: int = 8):
    """A pool of random batches taken in turn: each step's gradients differ, as in training."""
    gen = torch.Generator().manual_seed(1)
    pool = [(torch.randn(128, 3, 32, 32, generator=gen), torch.randint(0, 100, (128,), generator=gen))
            for _ in range(count)]
    return itertools.cycle(pool)


def recorded(net):
    table = stats.grad_stats([p.grad for p in net.parameters()])
    norm = table[:, -1].double().square().sum().sqrt().float()   # the global norm, as the recorder takes it
    torch.cat([table.view(-1), norm.view(1)]).cpu()


def one_liner(net):
    [(n, p.grad.view(-1)[p.grad.view(-1) != 0].abs().log10().median().item()) for n, p in net.named_parameters()]


def sort_path(net):
    kernel, stats._on_cpu = stats._on_cpu, lambda grads: None
    try:
        recorded(net)
    finally:
        stats._on_cpu = kernel


def setup():
    """The thread count from the command line, then the benchmark's model, its Adam and its batches."""
    if len(sys.argv) > 1:
        torch.set_num_threads(int(sys.argv[1]))
    net = model()
    return net, torch.optim.Adam(net.parameters(), lr=1e-5), batches()


def main() -> None:
    net, opt, data = setup()
    variants = {"(a) plain step": None, "(b) + grad_stats": recorded,
                "(c) + the talk's one-liner": one_liner, "(d) (b) on the sort path": sort_path}

    def step(extra):
        x, y = next(data)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        if extra:
            extra(net)
        opt.step()
        opt.zero_grad()

    def round_of_steps(extra):
        for _ in range(STEPS):
            step(extra)
    report(net, variants, take_turns(variants, round_of_steps, ROUNDS, WARMUP), STEPS)


def take_turns(variants: dict, round_of_steps, rounds: int, warmup: int) -> tuple[dict, dict]:
    """Wall and CPU time of `round_of_steps(variant)` for each variant in turn, round after round, so a
    busy machine slows all of them alike: {name: [seconds per round]} twice."""
    wall, cpu = ({name: [] for name in variants} for _ in range(2))
    for variant in variants.values():
        for _ in range(warmup):
            round_of_steps(variant)
    for _ in range(rounds):
        for name, variant in variants.items():
            w, c = time.perf_counter(), time.process_time()
            round_of_steps(variant)
            wall[name].append(time.perf_counter() - w)
            cpu[name].append(time.process_time() - c)
    return wall, cpu


def report(net, variants: dict, times: tuple[dict, dict], steps: int) -> None:
    """The table: ms per step and overhead over the first variant, wall and CPU, median (IQR)."""
    wall, cpu = ({k: [s / steps * 1e3 for s in v] for k, v in t.items()} for t in times)
    base = next(iter(variants))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}, "
          f"{sum(p.numel() for p in net.parameters()):,} parameters in {len(list(net.parameters()))} tensors, "
          f"{len(wall[base])} rounds x {steps} steps; ms per step and overhead over {base[:3]}: median (IQR)")
    print(f"{'variant':32s} {'wall ms':>20s} {'overhead':>22s} {'CPU ms':>20s} {'overhead':>22s}")
    for name in variants:
        print(f"{name:32s}" + "".join(summary(t[name], t[base]) for t in (wall, cpu)))


def summary(t: list[float], base: list[float]) -> str:
    t = np.array(t)
    q1, q3 = np.percentile(t, [25, 75])
    r1, r2, r3 = np.percentile(t / np.array(base) - 1, [25, 50, 75]) * 100
    return f" {statistics.median(t):7.2f} ({q1:5.1f}-{q3:5.1f}) {r2:+6.1f}% ({r1:+5.1f}..{r3:+5.1f}%)"


if __name__ == "__main__":
    main()
