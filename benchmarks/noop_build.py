"""A build with nothing to do, of the bundled gallery: `reportgen build` against the floor of starting the
command at all (`reportgen --version`: Python, click, the CLI's own imports). Target: about a second.

Run from the repository root after one full `reportgen build` (so every run and figure is there to reuse);
each command runs ROUNDS times in turn, in a fresh process, as a user types it.
Usage: python benchmarks/noop_build.py
"""
import statistics
import subprocess
import sys
import time

ROUNDS = 5


def seconds(*args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "reportgen", *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"reportgen {' '.join(args)} failed: {done.stderr.strip()}")
    if args == ("build",) and ", rendered 0 figures" not in done.stdout + done.stderr:
        sys.exit(f"the build had work to do (build once first): {(done.stdout + done.stderr).strip()}")
    return time.perf_counter() - start


def main() -> None:
    times = {"reportgen --version": [], "reportgen build (no-op)": []}
    for _ in range(ROUNDS):
        times["reportgen --version"].append(seconds("--version"))
        times["reportgen build (no-op)"].append(seconds("build"))
    floor, build = (statistics.median(t) for t in times.values())
    for name, t in times.items():
        print(f"{name:26s} median {statistics.median(t):.2f} s  (min {min(t):.2f}, max {max(t):.2f})")
    print(f"the no-op build takes {build:.2f} s, {build - floor:.2f} s above starting the command")


if __name__ == "__main__":
    main()
