"""Loss plane of an 8-layer width-256 MLP: reportgen's engine against the per-point loop, in one run."""
import time

import numpy as np
import torch
from torch import nn

from reportgen.compute import directions, landscape

N, WIDTH, DEPTH, CLASSES, SIDE = 1024, 256, 8, 100, 21


def per_point_loop(model, loss_fn, X, y, center, d1, d2, alphas, betas):
    """The reference: set the weights of each point, forward, next point."""
    flat = [torch.cat([t.reshape(-1) for t in ts]) for ts in (center, d1, d2)]
    losses = np.empty((len(betas), len(alphas)))
    with torch.no_grad():
        for i, b in enumerate(betas):
            for j, a in enumerate(alphas):
                theta = flat[0] + a * flat[1] + b * flat[2]
                torch.nn.utils.vector_to_parameters(theta, model.parameters())
                losses[i, j] = loss_fn(model(X), y).item()
        torch.nn.utils.vector_to_parameters(flat[0], model.parameters())
    return losses


def engine_flops(model, points, k=2):
    """Flops the engine does: the first layer K + 1 times, then per point the mix of the first layer's
    outputs, the mix of the other layers' weights and their matrix products."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    first, rest = linears[0], linears[1:]
    head = (k + 1) * 2 * N * first.in_features * first.out_features
    mix = 2 * (k + 1) * N * first.out_features + sum(2 * k * p.numel() for m in rest for p in m.parameters())
    matmuls = sum(2 * N * m.in_features * m.out_features for m in rest)
    return head + points * (mix + matmuls)


def mm_rate(rounds=5, repeats=20):
    """GFLOP/s of a plain torch.mm the size of one hidden layer on all samples, best of a few rounds
    (the machine is shared, so the best round is the closest to what it can do)."""
    a, b = torch.randn(N, WIDTH), torch.randn(WIDTH, WIDTH)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return repeats * 2 * N * WIDTH * WIDTH / best / 1e9


def main():
    torch.manual_seed(0)
    layers = [nn.Flatten(), nn.Linear(3 * 32 * 32, WIDTH), nn.ReLU()]
    for _ in range(DEPTH - 2):
        layers += [nn.Linear(WIDTH, WIDTH), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(WIDTH, CLASSES)).eval()
    X, y = torch.randn(N, 3, 32, 32), torch.randint(0, CLASSES, (N,))
    loss_fn = nn.CrossEntropyLoss()
    center = [p.detach().clone() for p in model.parameters()]
    d1, d2 = directions.random_direction(model, 1), directions.random_direction(model, 2)
    alphas = betas = torch.linspace(-1, 1, SIDE)

    start = time.perf_counter()
    fast = landscape.plane(model, loss_fn, X, y, center, d1, d2, alphas, betas).loss
    t_engine = time.perf_counter() - start
    start = time.perf_counter()
    slow = per_point_loop(model, loss_fn, X, y, center, d1, d2, alphas.tolist(), betas.tolist())
    t_loop = time.perf_counter() - start

    flops = engine_flops(model, SIDE * SIDE)
    rel = np.abs(fast / slow - 1).max()
    print(f"{DEPTH}-layer width-{WIDTH} MLP, {SIDE}x{SIDE} plane, {N} samples, "
          f"{torch.get_num_threads()} threads, path {landscape.engine_path(model)}")
    print(f"{'method':<16}{'seconds':>10}{'GFLOP/s':>10}")
    print(f"{'per-point loop':<16}{t_loop:>10.2f}{'':>10}")
    print(f"{'engine':<16}{t_engine:>10.2f}{flops / t_engine / 1e9:>10.1f}")
    print(f"{'torch.mm':<16}{'':>10}{mm_rate():>10.1f}   ({N}x{WIDTH} @ {WIDTH}x{WIDTH})")
    print(f"speed-up {t_loop / t_engine:.2f}x, max relative loss difference {rel:.1e} "
          f"({'ok' if rel <= 1e-5 else 'FAIL'}: <= 1e-5)")


if __name__ == "__main__":
    main()
