"""Cost of the instruments on benchmarks/recording.py's model (32-layer width-256 MLP, batch 128, Adam).

(a) plain step; (b) + update/weight ratios and activation health every 10th step; (c) the same every step —
the values stay on the device, as in the step log (gradient statistics, measured by recording.py, are left
out here). Then one sharpness estimate (20 Lanczos Hessian-vector products on a fixed batch of 128, no trace
probes) against an epoch of 391 plain steps (CIFAR's 50,000 samples at batch 128), and how it scales with the
number of products (10, 20, 40) and the batch (64, 128, 256); then what one product costs in plain steps.
Variants take turns as in recording.py.
Usage: python benchmarks/instruments.py [threads]
"""
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from recording import report, setup, take_turns  # noqa: E402
from reportgen.compute.instruments import Activations, Updates  # noqa: E402
from reportgen.compute.sharpness import Meter, hvp_operator  # noqa: E402

ROUNDS, STEPS, WARMUP = 16, 10, 1   # 16 rounds: at 8 the spread of (b) was wider than its cost
EPOCH = 391   # steps of one CIFAR epoch at batch 128


def main() -> None:
    net, opt, data = setup()
    params = list(net.parameters())
    updates, acts = Updates(params), Activations(net)
    kept, count = [], [0]

    def step(every):
        x, y = next(data)
        count[0] += 1
        logged = every and count[0] % every == 0
        acts.armed = bool(logged)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        if logged:
            kept.append(acts.take())
            updates.before()
        opt.step()
        if logged:   # as the step log: the next step's weights kept in the same pass when it is logged too
            kept.append(updates.after(keep=(count[0] + 1) % every == 0))
        opt.zero_grad()
        if len(kept) > 100:   # the epoch's copy, in recording.py's place
            torch.cat([k.reshape(-1) for k in kept]).cpu()
            kept.clear()

    variants = {"(a) plain step": 0, "(b) + updates, activations /10": 10, "(c) + updates, activations /1": 1}

    def round_of_steps(every):
        for _ in range(STEPS):
            step(every)
    times = take_turns(variants, round_of_steps, ROUNDS, WARMUP)
    report(net, variants, times, STEPS)
    plain = statistics.median(times[0]["(a) plain step"]) / STEPS

    gen = torch.Generator().manual_seed(3)
    print(f"\nsharpness, one estimate against {EPOCH} plain steps timed just before it (the machine's load drifts)")
    for iterations, size in ((10, 128), (20, 128), (40, 128), (20, 64), (20, 256)):
        x, y = torch.randn(size, 3, 32, 32, generator=gen), torch.randint(0, 100, (size,), generator=gen)
        meter = Meter(net, x, y, iterations=iterations, probes=0)
        meter.measure(opt, 1e-5)   # warm: the next one starts from its eigenvector, as in training
        t = time.perf_counter()
        round_of_steps(0)
        plain = (time.perf_counter() - t) / STEPS
        t = time.perf_counter()
        meter.measure(opt, 1e-5)
        took = time.perf_counter() - t
        print(f"  {iterations:3d} products, batch {size:4d}: {took:6.2f} s = {took / plain:5.1f} steps of "
              f"{plain * 1e3:.0f} ms = {100 * took / (EPOCH * plain):5.1f} % of an epoch")
    hvp = hvp_operator(net, params, x[:128], y[:128])
    v = torch.randn(sum(p.numel() for p in params), generator=gen)
    t = time.perf_counter()
    for _ in range(5):
        hvp(v)
    took = (time.perf_counter() - t) / 5
    t = time.perf_counter()
    round_of_steps(0)
    plain = (time.perf_counter() - t) / STEPS
    print(f"  one product at batch 128: {took * 1e3:.0f} ms = {took / plain:.2f} plain steps")
    acts.remove()


if __name__ == "__main__":
    main()
