"""What benchmarks/gpu.py proves: the statistics on the device equal, bit for bit, their definition computed on the
CPU (the talk's one-liner for the median); and recorded training steps never wait for the device."""
from __future__ import annotations

import contextlib
import math
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch

from gpu_common import CLIP, HostTraffic, Plain, cifar_shaped, sync_checker, talk, trainer
from reportgen.compute import stats
from reportgen.compute.steplog import StepLog
from reportgen.compute.train import batches, forward_backward, train_steps
from reportgen.store.rundir import STATS, Run


# ---- (1) exactness -------------------------------------------------------------------------------
def one_liner(g: torch.Tensor) -> float:
    """The talk's statistic, verbatim."""
    return g.view(-1)[g.view(-1) != 0].abs().log10().median().item()


def reference(grads: list[torch.Tensor]) -> torch.Tensor:
    """Each gradient's row of STATS computed on the CPU from its definition: the median by the talk's
    one-liner; q05..q95 log10 of the order statistic of rank floor(p (m - 1) / 100) of the m non-zero |g|;
    zero_frac; l2 summed in float64; a NaN anywhere: all NaN. Half and bfloat16 are read as float32."""
    rows = []
    for g in grads:
        g = g.detach().cpu().float().contiguous()
        if g.isnan().any():
            rows.append([math.nan] * len(STATS))
            continue
        a = g.view(-1)[g.view(-1) != 0].abs().sort().values
        m = a.numel()
        picks = a[[(m - 1) * p // 100 for p in stats.PERCENTS]].log10().tolist() if m else [math.nan] * 5
        zero_frac = (torch.tensor(g.numel() - m) / torch.tensor(g.numel())).item()   # as float32, as on the device
        rows.append([one_liner(g), picks[0], picks[1], picks[3], picks[4], zero_frac,
                     torch.linalg.vector_norm(g.double()).item()])
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, len(STATS))


def bits(t: torch.Tensor) -> np.ndarray:
    """float32 values as their bit patterns (0 to 2**32 - 1), every NaN -1: equal means equal bit for bit, and
    between two values of one sign the difference counts the float32 steps between them."""
    a = t.detach().cpu().float().numpy()
    return np.where(np.isnan(a), -1, a.view(np.uint32).astype(np.int64))


def differences(table: torch.Tensor, ref: torch.Tensor) -> dict[str, int]:
    """Values of `table` that are not `ref`'s: bit for bit in the median, the other quantiles and zero_frac;
    within 1e-6 relative in l2 (float64 sums in another order); and the largest gap in float32 steps."""
    t, r = bits(table), bits(ref)
    l2, l2_ref = table[:, -1].double().cpu().numpy(), ref[:, -1].double().numpy()
    close = np.isclose(l2, l2_ref, rtol=1e-6, atol=0) | (bits(table[:, -1]) == bits(ref[:, -1]))
    both = (t[:, :5] >= 0) & (r[:, :5] >= 0)   # neither NaN
    return {"median": int((t[:, 0] != r[:, 0]).sum()), "quantiles": int((t[:, 1:5] != r[:, 1:5]).sum()),
            "zero_frac": int((t[:, 5] != r[:, 5]).sum()), "l2": int((~close).sum()),
            "max_steps": int(np.abs(t[:, :5] - r[:, :5])[both].max(initial=0))}


@contextlib.contextmanager
def sort_path():
    """grad_stats on the sort path (the GPU's) whatever the device: the CPU kernel set aside."""
    kernel, stats._on_cpu = stats._on_cpu, lambda grads: None
    try:
        yield
    finally:
        stats._on_cpu = kernel


def paths(device: torch.device) -> list[str]:
    """The ways to compute the statistics here: the device's own (on CUDA the sort), the CPU kernel, and the
    sort path run on the CPU."""
    return ([device.type] if device.type != "cpu" else []) + ["cpu kernel", "cpu sort"]


def tables(grads: list[torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """The statistics of `grads` by each of `paths`, as CPU tensors."""
    host = [g.detach().cpu() for g in grads]
    out = {device.type: stats.grad_stats(grads).cpu()} if device.type != "cpu" else {}
    out["cpu kernel"] = stats.grad_stats(host)
    with sort_path():
        out["cpu sort"] = stats.grad_stats(host)
    return out


def norm_error(grads: list[torch.Tensor]) -> float:
    """Relative error of global_norm against the float64 norm of all entries (0 or 1 where that is 0, inf
    or NaN: equal or not)."""
    norm = stats.global_norm(grads).item()
    exact = math.sqrt(sum(g.detach().cpu().double().square().sum().item() for g in grads))
    if 0 < exact < math.inf:
        return abs(norm / exact - 1)
    return 0.0 if norm == exact or (math.isnan(norm) and math.isnan(exact)) else 1.0


def real_gradients(b) -> dict[str, list[torch.Tensor]]:
    """Gradients of the talk's nets on one CIFAR-shaped batch: each at initialisation (the unfixed 80-layer
    net's first layers hold values near 1e-33), and the fixed 80-layer one's again after some training."""
    x, y = cifar_shaped(b.size.batch * b.size.trained, b.device)
    sets = {}
    for name in ("mlp80-leaky", "mlp80-leaky-x2.37", "mlp116-tanh-x1.8"):
        exp, net = talk(name, b.size.width, b.device)
        opt, sched = trainer(exp, net, b.size.trained)
        forward_backward(net, opt, x[:b.size.batch], y[:b.size.batch])
        sets[f"{name}, initial"] = [p.grad.clone() for p in net.parameters()]
        if name == "mlp80-leaky-x2.37":
            train_steps(net, opt, sched, Plain(), x, y, batches(len(x), b.size.batch, torch.Generator(), b.device),
                        0, None)
            forward_backward(net, opt, x[:b.size.batch], y[:b.size.batch])
            sets[f"{name}, after {b.size.trained} steps"] = [p.grad.clone() for p in net.parameters()]
    return sets


def adversarial() -> dict[str, list[torch.Tensor]]:
    """Tensors that trip a careless selection or a careless device: zeros (-0.0 too), ties, both middles of
    an even count, subnormals, the ends of the float range, NaN and inf, half and bfloat16, awkward sizes."""
    gen = torch.Generator().manual_seed(7)
    n = 70_000
    normal = torch.randn(n, generator=gen)
    sub = (torch.randint(1, 1 << 23, (n,), generator=gen, dtype=torch.int32)
           >> torch.randint(0, 23, (n,), generator=gen, dtype=torch.int32)).view(torch.float32)
    tiny = torch.tensor([1e-45, 3e-45, 1e-44, 1e-42, 1e-40, 1e-39, 1.17549435e-38, 1e-37, 1e-35, 0.0])
    ends = torch.cat([torch.full((9000,), 3e38), torch.full((1000,), math.inf), torch.full((30_000,), 1e-45)])
    sparse = torch.where(torch.rand(n, generator=gen) < 0.3, normal, 0.0)
    return {
        "zeros": [torch.zeros(5), torch.zeros(n), -torch.zeros(1000), torch.cat([torch.zeros(n - 1), -torch.ones(1)])],
        "ties": [torch.full((n,), -0.5), torch.where(torch.rand(n, generator=gen) < 0.3, 1.0, 1.0001),
                 torch.arange(40_000.0) % 3 - 1],
        "even and odd counts": [torch.tensor([1.0, 0.0, 3.0, 10.0, 0.0, -100.0]), torch.tensor([2.0, -5.0, 0.0]),
                                torch.arange(1, 40_001.0).reshape(200, 200), torch.arange(40_001.0)],
        "subnormals": [tiny, tiny[:8], sub, -sub, torch.where(sub > 1e-40, sub, 0.0), normal * 1e-41],
        "range ends": [ends[torch.randperm(len(ends), generator=gen)], normal * 1e-30, normal * 1e30],
        "nan and inf": [torch.tensor([1.0, math.nan, 3.0]), torch.tensor([1.0, math.inf, math.inf, 0.0, 1e3])],
        "half": [(sparse * 1e-3).half(), (normal * 1e-6).half(), (normal * 1e4).half()],   # 1e-6: half subnormals
        "bfloat16": [(sparse * 1e-3).bfloat16(), (normal * 1e-39).bfloat16(), (normal * 1e30).bfloat16()],
        "sizes": [torch.randn(k, generator=gen) for k in (1, 2, 3, 4, 7, 8, 99, 100, 4095, 4096, 4097, 100_003)],
        "strided": [torch.randn(300, 200, generator=gen).t(), normal.reshape(700, 100)[:, ::3]],
    }


def exactness(b) -> dict:
    """(1) Every path's statistics against `reference`, on real gradients and adversarial tensors; the global
    norm against the float64 norm of all of them; and a one-step perturbation, which must be caught."""
    sets = real_gradients(b) | {name: [g.to(b.device) for g in gs] for name, gs in adversarial().items()}
    rows, bad, first = {}, 0, None
    print(f"{'tensor set':34s} {'tensors':>7s}  " + "  ".join(f"{p:>12s}" for p in paths(b.device))
          + (f"  {'one-liner on ' + b.device.type:>20s}" if b.device.type != "cpu" else ""))
    for name, grads in sets.items():
        ref = reference(grads)
        first = first if first is not None else ref
        found = {path: differences(t, ref) for path, t in tables(grads, b.device).items()}
        if b.device.type != "cpu":   # the one-liner run on the device itself: does its log10 match the CPU's?
            same = torch.tensor([one_liner(g.float().contiguous()) for g in grads], dtype=torch.float32)
            found[f"one-liner on {b.device.type}"] = {"median": int((bits(same) != bits(ref[:, 0])).sum())}
        rel = norm_error(grads)
        rows[name] = {"tensors": len(grads), "elements": sum(g.numel() for g in grads), "paths": found,
                      "global_norm_rel": rel}
        bad += sum(sum(v for k, v in d.items() if k != "max_steps") for p, d in found.items() if "one-liner" not in p)
        bad += rel > 1e-6
        print(f"{name:34s} {len(grads):7d}  " + "  ".join(f"{cell(d):>12s}" for d in found.values()))
    caught = perturbation_caught(first)
    print(f"a median one float32 step off is {'caught' if caught else 'NOT caught'} by the comparison")
    tensors = sum(r["tensors"] for r in rows.values())
    return {"status": "ok" if bad == 0 and caught else "fail", "sets": rows, "perturbation_caught": caught,
            "summary": f"{tensors} tensors in {len(rows)} sets, {len(paths(b.device))} paths: "
                       + ("all bit for bit" if bad == 0 else f"{bad} values differ")}


def perturbation_caught(ref: torch.Tensor) -> bool:
    """Whether `differences` sees one median moved by one float32 step: the comparison really compares."""
    bumped, i = ref.clone(), int(ref[:, 0].isfinite().nonzero()[0, 0])
    bumped[i, 0] = torch.nextafter(ref[i, 0], torch.tensor(math.inf))
    return differences(bumped, ref) == {**differences(ref, ref), "median": 1, "max_steps": 1}


def cell(d: dict) -> str:
    wrong = sum(v for k, v in d.items() if k != "max_steps")
    return "equal" if not wrong else f"{wrong} differ" + (f" ({d['max_steps']} st)" if d.get("max_steps") else "")


# ---- (2) no host sync between epoch boundaries ---------------------------------------------------
def no_sync(b) -> dict:
    """(2) Two epochs of recorded steps (every step, clipped) of the talk's 80-layer net, each epoch's steps
    under CUDA's sync checker set to "error" and the traffic detector; the epoch boundaries (the shuffled order
    sent over, the epoch's measurements copied back) outside them. Without CUDA the same steps run on the
    meta device under the detector alone. Then, on CUDA, an epoch with the weight snapshots of a run's first
    epoch, which copy the weights back by design: one sync each."""
    device = b.device if b.device.type == "cuda" else torch.device("meta")
    exp, net = talk("mlp80-leaky-x2.37", b.size.width, device, b.size.depth)
    steps, epochs = b.size.sync_steps, 2
    x, y = cifar_shaped(b.size.batch * steps, device)
    opt, sched = trainer(exp, net, steps * (epochs + 2))
    order = torch.Generator().manual_seed(0)
    rec = StepLog(net, Run(b.tmp / "sync"), every=1, clip=CLIP)
    # the first steps fill what is made once and kept (the statistics' index layout on the device, handles)
    step = train_steps(net, opt, sched, rec, x, y, batches(len(x), b.size.batch, order, device)[:2], 0, CLIP)
    found, raised = [], None
    for epoch in range(1, epochs + 1):
        todo = batches(len(x), b.size.batch, order, device)
        try:
            with HostTraffic(device) as traffic, sync_checker(device):
                step = train_steps(net, opt, sched, rec, x, y, todo, step, CLIP)
        except RuntimeError as e:   # CUDA's checker: "called a synchronizing CUDA operation"
            if "synchroniz" not in str(e):
                raise
            raised = f"{e} at {innermost(e)}"
        found += traffic.calls
        if device.type != "meta":
            rec.epoch(epoch)
        if raised:
            break
    result = {"device": str(device), "model": f"{exp.model.depth} layers, width {exp.model.width}",
              "steps": epochs * steps, "every": 1, "clip": CLIP, "host_traffic": found,
              "cuda_sync_error": raised}
    if device.type == "cuda":
        result["snapshots"] = snapshot_syncs(net, opt, sched, x, y, order, b, step)
    else:
        result["cuda_checker"] = "skipped: torch.cuda.set_sync_debug_mode watches CUDA streams; no GPU here"
    for line in found[:10] + ([raised] if raised else []):
        print("  ", line)
    ok = not found and not raised
    summary = f"{epochs * steps} recorded steps on {device}: " + (
        "no host sync" if ok else f"{len(found)} host transfers" + (", CUDA's checker raised" if raised else "")) \
        + ("" if device.type == "cuda" else " (meta stand-in; CUDA's own checker skipped: no GPU)")
    return {"status": "ok" if ok else "fail", **result, "summary": summary}


def snapshot_syncs(net, opt, sched, x, y, order, b, step: int) -> dict:
    """Synchronising calls counted (CUDA's checker set to "warn") in one epoch with a run's first-epoch
    snapshots (16 a epoch), against the number of snapshots."""
    steps = b.size.sync_steps
    snaps = {step + round(i * steps / 16) for i in range(1, 17)}
    rec = StepLog(net, Run(b.tmp / "sync-snapshots"), every=1, snapshot_steps=snaps, clip=CLIP)
    todo = batches(len(x), b.size.batch, order, x.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with sync_checker(x.device, "warn"):
            train_steps(net, opt, sched, rec, x, y, todo, step, CLIP)
    syncs = sum("synchroniz" in str(w.message) for w in caught)
    print(f"   an epoch with {len(snaps)} weight snapshots: {syncs} synchronising calls")
    return {"snapshot_steps": len(snaps), "syncs": syncs}


def innermost(error: BaseException) -> str:
    """Where in reportgen (else anywhere outside torch) an exception was raised, as path:line."""
    frames = traceback.extract_tb(error.__traceback__)
    mine = [f for f in frames if "reportgen" in Path(f.filename).parts] or \
        [f for f in frames if "torch" not in Path(f.filename).parts] or frames
    return f"{Path(mine[-1].filename).name}:{mine[-1].lineno}"
