"""benchmarks/gpu.py at its CPU size, its comparisons and its traffic detector; and the recorded step, which must
send nothing between the host and the device (on CUDA each transfer waits for the GPU)."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_checks  # noqa: E402
from gpu_common import HostTraffic  # noqa: E402
from reportgen.compute import stats  # noqa: E402
from reportgen.compute.steplog import StepLog  # noqa: E402
from reportgen.compute.train import batches, train_steps  # noqa: E402
from reportgen.store.rundir import Run  # noqa: E402

META = torch.device("meta")


def traffic(fn) -> list[str]:
    with HostTraffic(META) as seen:
        try:
            fn()
        except (RuntimeError, NotImplementedError):   # meta tensors have no values to read back
            pass
    return seen.calls


def test_the_detector_sees_each_kind_of_traffic_and_nothing_else():
    t, mask = torch.empty(4, 5, device=META), torch.empty(4, dtype=torch.bool, device=META)
    assert traffic(lambda: t[:, [2, 0, 1]]) and traffic(lambda: t[torch.tensor([0, 1])])
    assert traffic(lambda: t[mask]) and traffic(lambda: torch.tensor([1.0], device=META))
    assert traffic(lambda: torch.ones(3).to(META)) and traffic(lambda: t.sum().item())
    assert traffic(lambda: bool(t.sum() > 0)) and traffic(lambda: t.nonzero())
    assert "test_gpu_benchmark.py:" in traffic(lambda: t[:, [1]])[0]   # where the call was made
    quiet = [lambda: torch.cat([t[:, 2:3], t[:, :2]], 1), lambda: t[t.argmax(0)], lambda: t.to(META, torch.float64),
             lambda: t * torch.tensor(2.0), lambda: torch.full((), 1.0, device=META), lambda: t[:, 3]]
    assert [traffic(f) for f in quiet] == [[]] * len(quiet)


def test_a_recorded_step_sends_nothing_between_host_and_device(tmp_path):
    """The training loop's steps recorded every step (and every other: the update ratios' two paths) and
    clipped, with the instruments, and the step log under a GradScaler's scale, on the meta device: no call
    reads a value back or sends host data over."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    net = net.to(META)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0)
    x, y = torch.empty(32, 3, 2, 2, device=META), torch.empty(32, dtype=torch.long, device=META)
    order = batches(32, 8, torch.Generator().manual_seed(0), META)
    for every in (2, 1):
        rec = StepLog(net, Run(tmp_path / str(every)), every=every, clip=1.0, updates=True, activations=True)
        step = train_steps(net, opt, sched, rec, x, y, order[:2], 0, 1.0)   # what is made once is made here
        assert traffic(lambda: train_steps(net, opt, sched, rec, x, y, order[2:], step, 1.0)) == []
    scale = torch.full((), 2.0 ** -16, device=META)
    assert traffic(lambda: rec.step(9, torch.zeros((), device=META), torch.zeros((), device=META), 1e-3, scale)) == []
    assert traffic(lambda: stats.global_norm([p.grad for p in net.parameters()])) == []


def gradients():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(50, 40), torch.nn.Tanh(), torch.nn.Linear(40, 10))
    torch.nn.functional.cross_entropy(net(torch.randn(16, 50)), torch.randint(0, 10, (16,))).backward()
    return [p.grad for p in net.parameters()]


def test_the_exactness_comparison_really_compares():
    """Equal for the statistics as computed; not equal for a table one float32 step off, nor for a gradient
    changed after its statistics were taken."""
    grads = gradients()
    ref = gpu_checks.reference(grads)
    for path, table in gpu_checks.tables(grads, torch.device("cpu")).items():
        assert gpu_checks.differences(table, ref) == {"median": 0, "quantiles": 0, "zero_frac": 0, "l2": 0,
                                                      "max_steps": 0}, path
    assert gpu_checks.perturbation_caught(ref)
    table = stats.grad_stats(grads)
    g = grads[0].view(-1)
    g[g.abs().argsort()[(len(g) - 1) // 2]] *= 1.5   # the lower middle |g|, the median, moves
    assert gpu_checks.differences(table, gpu_checks.reference(grads))["median"] == 1
    assert gpu_checks.norm_error(grads) == 0 or gpu_checks.norm_error(grads) < 1e-6


def test_the_quick_cpu_run_writes_every_check(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--device", "cpu", "--quick",
                           "--out", str(out)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    checks = report["checks"]
    assert list(checks) == ["exactness", "sync", "recording", "throughput", "landscape", "jobs"]
    assert report["quick"] and report["environment"]["device"] == "cpu"
    assert {c["status"] for c in checks.values()} <= {"ok", "measured", "skipped"}
    exact = checks["exactness"]
    assert exact["status"] == "ok" and exact["perturbation_caught"]
    assert {"mlp80-leaky, initial", "mlp116-tanh-x1.8, initial", "subnormals", "half", "bfloat16"} <= set(exact["sets"])
    for s in exact["sets"].values():
        assert set(s["paths"]) == {"cpu kernel", "cpu sort"}
        assert all(v == 0 for d in s["paths"].values() for v in d.values())
    assert checks["sync"]["host_traffic"] == [] and checks["sync"]["device"] == "meta"
    assert checks["sync"]["cuda_checker"].startswith("skipped")
    for batch in ("batch 16", "batch 64"):
        assert set(checks["recording"][batch]) == {"(a) plain step", "(b) recorded every step",
                                                   "(c) recorded every 10 steps"}
    assert checks["throughput"]["mlp80-leaky-x2.37"]["cuda graph"].startswith("skipped")
    assert math.isfinite(checks["throughput"]["mlp116-tanh-x1.8"]["eager"])
    land = checks["landscape"]
    assert land["status"] == "ok" and land["max_rel_loss_difference"] <= 1e-5 and land["points"] == 81
    assert checks["jobs"]["status"] == "skipped" and "skipped" in done.stdout
