"""The last check of benchmarks/gpu.py: `reportgen run --jobs` spreading runs over the GPUs present, each run a
fresh process, against `--jobs 1`."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import torch

from gpu_common import ROOT

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
