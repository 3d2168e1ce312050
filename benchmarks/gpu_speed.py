"""What benchmarks/gpu.py measures: recording's cost, training throughput and what bounds it, and the landscape
engine against the per-point loop. Each variant runs in the same process as its baseline, each figure beside it."""
from __future__ import annotations

import itertools
import statistics
import time

import numpy as np
import torch

import landscape as landscape_bench   # benchmarks/landscape.py: its per-point loop is the baseline
import recording                      # benchmarks/recording.py: variants taking turns in rounds, its table
from gpu_common import SHAPE, CLASSES, Plain, cifar_shaped, sync, talk, trainer
from reportgen import declare
from reportgen.compute import directions, landscape, models, stats
from reportgen.compute.steplog import StepLog
from reportgen.compute.train import batches, train_steps
from reportgen.store.rundir import Run


def cycled(pool, n: int):
    """The first n batches of `pool` taken round and round."""
    return list(itertools.islice(itertools.cycle(pool), n))


# ---- (3) recording cost --------------------------------------------------------------------------
def recording_cost(b) -> dict:
    """(3) The talk's 80-layer net through the training loop's steps: plain, recorded every step and every 10
    steps, at two batch sizes, the variants taking turns in rounds; each round ends with its epoch boundary
    (the recorder copies back and writes its chunk) and waits for the device."""
    exp, net = talk("mlp80-leaky-x2.37", b.size.width, b.device, b.size.depth)
    opt, sched = trainer(exp, net)
    out = {"instruments": "the gradient statistics only: no other instrument (sharpness, update ratios, "
                          "activations) is recorded by this tree yet"}
    for batch in (b.size.batch, b.size.big_batch):
        x, y = cifar_shaped(batch * 4, b.device)
        pool = batches(len(x), batch, torch.Generator().manual_seed(0), b.device)
        variants = {"(a) plain step": Plain(),
                    "(b) recorded every step": StepLog(net, Run(b.tmp / f"cost-{batch}-1"), 1),
                    "(c) recorded every 10 steps": StepLog(net, Run(b.tmp / f"cost-{batch}-10"), 10)}
        counts = {id(v): [0, 0] for v in variants.values()}   # each variant's steps and epochs

        def round_of_steps(rec):
            count = counts[id(rec)]
            count[0] = train_steps(net, opt, sched, rec, x, y, cycled(pool, b.size.round_steps), count[0], None)
            count[1] += 1
            rec.epoch(count[1])
            sync(b.device)
        times = recording.take_turns(variants, round_of_steps, b.size.rounds, b.size.warmup)
        print(f"batch {batch}:")
        recording.report(net, variants, times, b.size.round_steps)
        out[f"batch {batch}"] = overheads(times[0], b.size.round_steps)
    costs = {k: v["(b) recorded every step"]["overhead"] for k, v in out.items() if k.startswith("batch")}
    return {"status": "measured", **out,
            "summary": "recording every step: " + ", ".join(f"{v:+.1%} at {k}" for k, v in costs.items())}


def overheads(wall: dict[str, list[float]], steps: int) -> dict:
    """Per variant: median ms per step, and the median (with quartiles) of its per-round ratio to the first."""
    base = np.array(next(iter(wall.values())))
    out = {}
    for name, t in wall.items():
        ratio = np.array(t) / base - 1
        out[name] = {"ms_per_step": statistics.median(t) / steps * 1e3, "overhead": float(np.median(ratio)),
                     "overhead_iqr": [float(q) for q in np.percentile(ratio, [25, 75])]}
    return out


# ---- (4) throughput ------------------------------------------------------------------------------
def rate(run, steps: int, device, repeats: int = 3) -> float:
    """Steps per second of `run()` (which takes `steps` steps): the median of `repeats` timings after one
    untimed call."""
    run()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync(device)
        times.append(time.perf_counter() - start)
    return steps / statistics.median(times)


def profiled(run, steps: int, device) -> dict:
    """Device kernels and host-side aten calls per step, and the device's busy time per step."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    run()
    with profile(activities=activities) as prof:
        run()
        sync(device)
    events = prof.events()
    kernels = [e for e in events if e.device_type == DeviceType.CUDA]
    return {"kernels_per_step": len(kernels) / steps,
            "aten_calls_per_step": sum(e.name.startswith("aten::") for e in events) / steps,
            "device_busy_ms_per_step": sum(e.time_range.elapsed_us() for e in kernels) / steps / 1e3}


def graphed(exp, net, x, y, first, record: bool):
    """The plain step (forward, backward, Adam) captured once as a CUDA graph; returns fn(idx) that copies a
    batch into the graph's inputs and replays it. With `record`, grad_stats is captured with the step. The
    lr stays at its first value (a schedule would need it as a device tensor)."""
    params = list(net.parameters())
    opt = trainer(exp, net)[0]
    for group in opt.param_groups:
        group["capturable"] = True   # Adam's step count on the device, which a graph needs
    sx, sy = x[first].clone(), y[first].clone()   # the graph's inputs, a batch's shape

    def body():
        loss = torch.nn.functional.cross_entropy(net(sx), sy)
        loss.backward()
        table = stats.grad_stats([p.grad for p in params]) if record else None
        opt.step()
        return loss, table
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            body()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        body()

    def replay(idx):
        sx.copy_(x[idx])
        sy.copy_(y[idx])
        graph.replay()
    return replay


def throughput(b) -> dict:
    """(4) Steps per second of the talk's 80- and 116-layer nets: the loop's plain step, recorded as their
    scripts record (every 2 steps), where the time goes (device kernels per step, device busy time), the
    80-layer net through torch.compile, and last (a failed capture may leave CUDA unusable) the plain and the
    recorded step as CUDA graphs."""
    n, out, kept = b.size.rate_steps, {}, {}
    for name in ("mlp80-leaky-x2.37", "mlp116-tanh-x1.8"):
        exp, net = talk(name, b.size.width, b.device, b.size.depth)
        x, y = cifar_shaped(b.size.batch * 8, b.device)
        pool = batches(len(x), b.size.batch, torch.Generator().manual_seed(0), b.device)
        opt, sched = trainer(exp, net)
        rec = StepLog(net, Run(b.tmp / f"rate-{name}"), exp.record.every)
        loop = lambda rec, k=n: train_steps(net, opt, sched, rec, x, y, cycled(pool, k), 0, None)  # noqa: E731
        r = out[name] = {"model": f"{exp.model.depth} layers, width {exp.model.width}",
                         "eager": rate(lambda: loop(Plain()), n, b.device, b.size.repeats),
                         f"eager, recorded every {exp.record.every}": rate(lambda: (loop(rec), rec.epoch(1)), n,
                                                                          b.device, b.size.repeats)}
        r["profile"] = attempt(lambda: profiled(lambda: loop(Plain(), b.size.profile_steps), b.size.profile_steps,
                                                b.device))
        if b.device.type == "cuda" and isinstance(r["profile"], dict):   # below about half, launches bound it
            r["device_busy_fraction"] = r["profile"]["device_busy_ms_per_step"] * r["eager"] / 1e3
        if not b.size.compile:
            r["torch.compile"] = "skipped in --quick: compiling takes longer than the whole quick run"
        elif name == "mlp80-leaky-x2.37":
            r["torch.compile"] = attempt(lambda: compiled(exp, net, x, y, pool, n, b.device))
        kept[name] = exp, net, x, y, pool
    for name, (exp, net, x, y, pool) in kept.items():
        out[name].update(graphs(exp, net, x, y, pool, n, b.device) if b.device.type == "cuda"
                         else {"cuda graph": "skipped: CUDA graphs need CUDA"})
        show(name, out[name], b.size.batch)
    return {"status": "measured", "batch": b.size.batch, **out,
            "summary": ", ".join(f"{k} ({v['model']}) {v['eager']:.0f}" for k, v in out.items()) + " steps/s eager"}


def graphs(exp, net, x, y, pool, n: int, device) -> dict:
    """Steps per second of the plain step, then of the recorded one, replayed as CUDA graphs."""
    def replayed(record):
        step = graphed(exp, net, x, y, pool[0], record)
        return rate(lambda: [step(i) for i in cycled(pool, n)], n, device)
    return {"cuda graph": attempt(lambda: replayed(False)),
            "cuda graph, recorded every step": attempt(lambda: replayed(True))}


def attempt(fn):
    """fn(), or what stopped it as a line: a figure that cannot be taken here is reported, not fatal."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001
        return f"failed: {type(e).__name__}: {str(e)[:300]}"


def compiled(exp, net, x, y, pool, n: int, device) -> dict:
    """torch.compile of the model (default mode) in the loop's plain step: seconds to compile, then steps/s."""
    model = torch.compile(net)
    opt, sched = trainer(exp, net)
    start = time.perf_counter()
    train_steps(model, opt, sched, Plain(), x, y, cycled(pool, 2), 0, None)
    sync(device)
    seconds = time.perf_counter() - start
    steps = rate(lambda: train_steps(model, opt, sched, Plain(), x, y, cycled(pool, n), 0, None), n, device)
    return {"compile_s": seconds, "steps_per_s": steps}


def show(name: str, r: dict, batch: int) -> None:
    eager = r["eager"]
    print(f"{name}, batch {batch}:")
    for k, v in r.items():
        if isinstance(v, float) and k != "device_busy_fraction":
            print(f"  {k:32s} {v:9.1f} steps/s {1e3 / v:8.2f} ms/step  {v / eager:5.2f}x eager")
        elif k == "torch.compile" and isinstance(v, dict):
            print(f"  {k:32s} {v['steps_per_s']:9.1f} steps/s  {v['steps_per_s'] / eager:5.2f}x eager, "
                  f"compiled in {v['compile_s']:.0f} s")
        elif k == "profile" and isinstance(v, dict):
            print(f"  profile: {v['kernels_per_step']:.0f} device kernels and {v['aten_calls_per_step']:.0f} aten "
                  f"calls a step, the device busy {v['device_busy_ms_per_step']:.2f} ms of it")
        elif k == "device_busy_fraction":
            print(f"  the device is busy {v:.0%} of an eager step")
        else:
            print(f"  {k:32s} {v}")


# ---- (5) landscape -------------------------------------------------------------------------------
def landscape_plane(b) -> dict:
    """(5) A filter-normalised plane of a CIFAR-shaped ReLU MLP on `samples` samples: the engine against
    benchmarks/landscape.py's per-point loop (set the weights, forward, read the loss) in the same run."""
    depth, width = b.size.mlp
    torch.manual_seed(0)
    model = models.build(declare.MLP(depth=depth, width=width, activation=declare.ReLU()), SHAPE, CLASSES)
    model = model.to(b.device).eval()
    X, y = cifar_shaped(b.size.samples, b.device, seed=1)
    loss_fn = torch.nn.CrossEntropyLoss()
    center = [p.detach().clone() for p in model.parameters()]
    d1, d2 = directions.random_direction(model, 1), directions.random_direction(model, 2)
    side = torch.linspace(-1, 1, b.size.plane)
    with torch.no_grad():
        loss_fn(model(X), y).item()   # the device warmed up for both
    start = time.perf_counter()
    fast = landscape.plane(model, loss_fn, X, y, center, d1, d2, side, side).loss
    engine = time.perf_counter() - start
    start = time.perf_counter()
    slow = landscape_bench.per_point_loop(model, loss_fn, X, y, center, d1, d2, side.tolist(), side.tolist())
    loop = time.perf_counter() - start
    points, rel = b.size.plane ** 2, float(np.abs(fast / slow - 1).max())
    print(f"{depth}-layer width-{width} MLP, {b.size.plane}x{b.size.plane} plane, {b.size.samples} samples, "
          f"path {landscape.engine_path(model)}")
    print(f"  {'per-point loop':16s} {loop:8.2f} s {points / loop:10.1f} points/s")
    print(f"  {'engine':16s} {engine:8.2f} s {points / engine:10.1f} points/s   {loop / engine:.1f}x")
    print(f"  max relative loss difference {rel:.1e} ({'ok' if rel <= 1e-5 else 'FAIL'}: <= 1e-5)")
    return {"status": "ok" if rel <= 1e-5 else "fail", "model": f"MLP depth {depth} width {width}",
            "points": points, "samples": b.size.samples, "engine_s": engine, "loop_s": loop,
            "engine_points_per_s": points / engine, "loop_points_per_s": points / loop, "speedup": loop / engine,
            "max_rel_loss_difference": rel,
            "summary": f"{points} points: engine {engine:.2f} s, loop {loop:.2f} s ({loop / engine:.1f}x), "
                       f"losses within {rel:.0e}"}
