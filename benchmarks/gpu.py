"""reportgen's GPU paths proved and measured in one command: a table on stdout, every figure in benchmarks/gpu.json.

(1) exactness: the gradient statistics on the device equal their definition computed on the CPU (the talk's
    one-liner for the median) bit for bit, on real gradients of the talk's nets and on adversarial tensors;
(2) no host sync: two epochs of recorded steps under CUDA's sync checker set to "error";
(3) recording cost: the plain step against recording every step and every 10 steps, batch 128 and 1024;
(4) throughput of the talk's 80- and 116-layer nets, where the time goes, CUDA graphs and torch.compile;
(5) a 51x51 filter-normalised loss plane on 10,000 samples: the engine against the per-point loop;
(6) `reportgen run --jobs` over the GPUs present.
A part that needs CUDA (or several GPUs) says it was skipped and why; without CUDA, (2) runs the same steps on
the meta device under a detector of host-device traffic. `--quick` runs every check at a small size (the test
suite runs `--device cpu --quick`). The JSON is rewritten after each check, so a run cut short keeps what it
measured. Exit status 1 when a check fails or breaks.
Usage: python benchmarks/gpu.py [--device auto|cpu|cuda|cuda:N] [--quick] [--only NAME,...] [--out PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]
import torch  # noqa: E402

import gpu_checks  # noqa: E402
import gpu_jobs  # noqa: E402
import gpu_speed  # noqa: E402
from gpu_common import QUICK, Bench, Size  # noqa: E402
from reportgen.compute.runtime import environment, pick_device  # noqa: E402

CHECKS = {"exactness": gpu_checks.exactness, "sync": gpu_checks.no_sync, "recording": gpu_speed.recording_cost,
          "throughput": gpu_speed.throughput, "landscape": gpu_speed.landscape_plane, "jobs": gpu_jobs.jobs}
FAILED = ("fail", "error")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    device = pick_device(args.device)
    size = QUICK if args.quick else Size()
    report = {"command": " ".join(["python benchmarks/gpu.py", *(argv if argv is not None else sys.argv[1:])]),
              "quick": args.quick, "size": asdict(size), "gpus": torch.cuda.device_count(),
              "environment": environment(device), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "checks": {}}
    env = report["environment"]
    print(f"reportgen {env['reportgen']} at {env['commit']}, torch {env['torch']}, device {device} "
          f"({env['device_name']}), {report['gpus']} GPUs, {torch.get_num_threads()} threads"
          + (", quick sizes" if args.quick else ""))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reportgen-gpu-") as tmp:
        for name in [n for n in CHECKS if n in (args.only or CHECKS)]:
            print(f"\n== ({list(CHECKS).index(name) + 1}) {name}")
            began = time.perf_counter()
            try:
                result = CHECKS[name](Bench(device, size, Path(tmp) / name))
            except Exception as e:  # noqa: BLE001 - one broken check must not cost the others' figures
                traceback.print_exc()
                result = {"status": "error", "summary": f"{type(e).__name__}: {e}"[:300],
                          "traceback": traceback.format_exc()}
            result["seconds"] = time.perf_counter() - began
            print(f"-> {result['status']}: {result['summary']}")
            report["checks"][name] = result
            report["seconds"] = time.perf_counter() - start
            write(args.out, report)
    table(report)
    return 1 if any(c["status"] in FAILED for c in report["checks"].values()) else 0


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu, cuda or cuda:N")
    parser.add_argument("--quick", action="store_true", help="every check at a small size (for a CPU)")
    parser.add_argument("--only", type=lambda s: s.split(","), help=f"some of: {','.join(CHECKS)}")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "gpu.json")
    args = parser.parse_args(argv)
    unknown = set(args.only or ()) - set(CHECKS)
    if unknown:
        parser.error(f"--only: unknown check(s) {', '.join(sorted(unknown))}; known: {', '.join(CHECKS)}")
    return args


def write(path: Path, report: dict) -> None:
    """The report as JSON, written aside and moved into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(report, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
    os.replace(tmp, path)


def table(report: dict) -> None:
    print(f"\n{'check':12s} {'status':9s} {'seconds':>8s}  result")
    for name, c in report["checks"].items():
        print(f"{name:12s} {c['status']:9s} {c['seconds']:8.1f}  {c['summary']}")
    print(f"total {report['seconds']:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
