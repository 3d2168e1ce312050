"""What benchmarks/gpu.py measures: recording's cost, training throughput and what bounds it, the landscape engine
against the per-point loop, and `reportgen run --jobs` over several GPUs. Each variant runs in the same process
as its baseline, and each figure is given beside it."""
from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import torch

import landscape as landscape_bench   # benchmarks/landscape.py: its per-point loop is the baseline
import recording                      # benchmarks/recording.py: variants taking turns in rounds, its table
from gpu_common import ROOT, SHAPE, CLASSES, Plain, cifar_shaped, sync, talk, trainer
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
        r["profile"] = profiled(lambda: loop(Plain(), b.size.profile_steps), b.size.profile_steps, b.device)
        if b.device.type == "cuda":   # below about half, the GPU waits for kernels to be launched
            r["device_busy_fraction"] = r["profile"]["device_busy_ms_per_step"] * r["eager"] / 1e3
        if not b.size.compile:
            r["torch.compile"] = "skipped in --quick: compiling takes longer than the whole quick run"
        elif name == "mlp80-leaky-x2.37":
            r["torch.compile"] = compiled(exp, net, x, y, pool, n, b.device)
        kept[name] = exp, net, x, y, pool
    for name, (exp, net, x, y, pool) in kept.items():
        out[name].update(graphs(exp, net, x, y, pool, n, b.device) if b.device.type == "cuda"
                         else {"cuda graph": "skipped: CUDA graphs need CUDA"})
        show(name, out[name], b.size.batch)
    return {"status": "measured", "batch": b.size.batch, **out,
            "summary": ", ".join(f"{k} ({v['model']}) {v['eager']:.0f}" for k, v in out.items()) + " steps/s eager"}


def graphs(exp, net, x, y, pool, n: int, device) -> dict:
    """Steps per second of the plain step, then of the recorded one, replayed as CUDA graphs."""
    out = {}
    for name, record in (("cuda graph", False), ("cuda graph, recorded every step", True)):
        try:
            step = graphed(exp, net, x, y, pool[0], record)
            out[name] = rate(lambda: [step(i) for i in cycled(pool, n)], n, device)
        except Exception as e:  # noqa: BLE001 - a figure that cannot be taken is reported, not fatal
            out[name] = f"failed: {type(e).__name__}: {str(e)[:300]}"
    return out


def compiled(exp, net, x, y, pool, n: int, device) -> dict | str:
    """torch.compile of the model (default mode) in the loop's plain step: seconds to compile, then steps/s."""
    try:
        model = torch.compile(net)
        opt, sched = trainer(exp, net)
        start = time.perf_counter()
        train_steps(model, opt, sched, Plain(), x, y, cycled(pool, 2), 0, None)
        sync(device)
        seconds = time.perf_counter() - start
        steps = rate(lambda: train_steps(model, opt, sched, Plain(), x, y, cycled(pool, n), 0, None), n, device)
        return {"compile_s": seconds, "steps_per_s": steps}
    except Exception as e:  # noqa: BLE001 - a compiler missing here is a figure not taken, not a failed check
        return f"failed: {type(e).__name__}: {str(e)[:300]}"


def show(name: str, r: dict, batch: int) -> None:
    eager = r["eager"]
    print(f"{name}, batch {batch}:")
    for k, v in r.items():
        if isinstance(v, float) and k != "device_busy_fraction":
            print(f"  {k:32s} {v:9.1f} steps/s {1e3 / v:8.2f} ms/step  {v / eager:5.2f}x eager")
        elif k == "torch.compile" and isinstance(v, dict):
            print(f"  {k:32s} {v['steps_per_s']:9.1f} steps/s  {v['steps_per_s'] / eager:5.2f}x eager, "
                  f"compiled in {v['compile_s']:.0f} s")
        elif k == "profile":
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


# ---- (6) run --jobs over the GPUs ----------------------------------------------------------------
SCRIPT = """from reportgen import Adam, Experiment, LeakyReLU, MLP, Record, Synthetic
EXPERIMENT = Experiment(name="gpu-job-{i}", seed={i}, epochs=2, record=Record(every=1),
    model=MLP(depth=80, width=256, activation=LeakyReLU(negative_slope=0.01), multiplier=2.37),
    data=Synthetic(n_train=4096, n_test=256, classes=100), optimizer=Adam(lr=(3e-5, 3e-6)))
"""


def jobs(b) -> dict:
    """(6) `reportgen run --jobs N` of N runs of the talk's 80-layer net against `--jobs 1`, N the GPUs, each
    a fresh command; the memory each GPU holds meanwhile shows which ones worked."""
    gpus = torch.cuda.device_count() if b.device.type == "cuda" else 0
    if gpus < 2:
        return {"status": "skipped", "gpus": gpus,
                "summary": f"{gpus} GPU{'s' if gpus != 1 else ''} here: run --jobs spreads runs over GPUs only "
                           "when there are several"}
    folder = b.tmp / "jobs" / "experiments"
    folder.mkdir(parents=True)
    for i in range(gpus):
        (folder / f"gpu-job-{i}.py").write_text(SCRIPT.format(i=i))
    out = {"status": "ok", "gpus": gpus}
    for n in (gpus, 1):
        used, done = [0] * gpus, threading.Event()
        base = [torch.cuda.mem_get_info(i) for i in range(gpus)]

        def watch():
            while not done.wait(0.2):
                for i, (free0, _) in enumerate(base):
                    used[i] = max(used[i], free0 - torch.cuda.mem_get_info(i)[0])
        watcher = threading.Thread(target=watch)
        watcher.start()
        start = time.perf_counter()
        ran = subprocess.run([sys.executable, "-m", "reportgen", "run", "--jobs", str(n), "--runs",
                              str(b.tmp / "jobs" / f"runs-{n}"), str(folder)], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
        seconds = time.perf_counter() - start
        done.set()
        watcher.join()
        out[f"jobs {n}"] = {"seconds": seconds, "exit": ran.returncode, "gpus_used_mb": [u / 2**20 for u in used]}
        print(f"  --jobs {n}: {seconds:.1f} s, exit {ran.returncode}, memory held per GPU (MB): "
              + " ".join(f"{u / 2**20:.0f}" for u in used))
        if ran.returncode:
            out["status"], out["stderr"] = "fail", ran.stderr[-2000:]
    spread = sum(mb > 256 for mb in out[f"jobs {gpus}"]["gpus_used_mb"])   # a worker's context and net
    out["status"] = out["status"] if spread == gpus else "fail"
    speedup = out["jobs 1"]["seconds"] / out[f"jobs {gpus}"]["seconds"]
    return {**out, "speedup": speedup, "summary": f"{gpus} runs on {spread} of {gpus} GPUs, {speedup:.1f}x --jobs 1"}
