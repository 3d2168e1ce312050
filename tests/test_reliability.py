"""A runner that survives kill -9, two writers and divergence: real processes, real files."""
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from reportgen import declare as spec
from reportgen.compute import execute as project, train
from reportgen.declare import config
from reportgen.declare.load import load
from reportgen.draw import figures
from reportgen.draw.style import Style
from reportgen.store.entries import Entry
from reportgen.store.io import RunError, read_npy, read_npz
from reportgen.store.lock import Busy, lock
from reportgen.store.rundir import Run
from tests.crash import files, same

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """
from reportgen.declare import *
EXPERIMENT = Experiment(
    name="kill", model=MLP(depth=3, width=32), data=Synthetic(n_train=512, n_test=64, shape=(1, 8, 8), classes=4),
    optimizer=Adam(lr=(1e-3, 1e-4)), schedule=Warmup(steps=20), clip=Clip(probe=10), epochs=8, batch_size=16,
    record=Record(every=4, snapshots=3),
)
"""


def cli(folder: Path, *args) -> subprocess.Popen:
    """`reportgen ARGS` in a real process, on one thread (as the reference below: the same arithmetic)."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "reportgen", *args], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def epoch(path: Path) -> int:
    """The epoch a run's status reports; -1 before there is one."""
    status = path / "status.json"
    return json.loads(status.read_text())["epoch"] if status.exists() else -1


def test_kill_9_at_random_moments_then_resume_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # env.json records the git commit of the working directory
    (tmp_path / "exp.py").write_text(SCRIPT)
    exp, = load(tmp_path / "exp.py")
    whole = Run(tmp_path / "whole" / config.run_id(exp))
    start = time.perf_counter()
    train.train(exp, whole)  # on one thread (one_thread), as the processes below
    epoch_time = (time.perf_counter() - start) / exp.epochs
    killed = tmp_path / "runs" / "kill" / config.run_id(exp)
    rng, moments = random.Random(8), []
    # the first kill before any checkpoint, then at a random moment inside random later epochs (not the last)
    for target in [0, *sorted(rng.sample(range(1, exp.epochs - 1), 2))]:
        proc = cli(tmp_path, "run", "exp.py")
        while proc.poll() is None and epoch(killed) < target:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, epoch_time))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL  # it died mid-run, not at the end
        moments.append(json.loads((killed / "status.json").read_text())["step"])
    assert moments == sorted(moments) and moments[-1] < 256, moments
    done = cli(tmp_path, "run", "exp.py")
    assert done.wait(timeout=120) == 0, done.stderr.read()
    run = Run(killed)
    assert run.status["state"] == whole.status["state"] == "complete"
    ours, theirs = files(run.path), files(whole.path)
    assert ours.keys() == theirs.keys()  # no temporary file left behind, nothing missing
    for name, path in ours.items():
        if name.endswith(".npz"):
            assert same(read_npz(path), read_npz(theirs[name])), name
        elif name.endswith(".npy"):
            assert np.array_equal(np.load(path), np.load(theirs[name])), name
        elif name.endswith(".pt"):
            assert same(run.read_checkpoint(), whole.read_checkpoint()), name
        elif name != "status.json":
            assert path.read_bytes() == theirs[name].read_bytes(), name


def test_a_corrupt_checkpoint_or_snapshot_is_named(tmp_path):
    run = Run(tmp_path / "r")
    run.checkpoint.parent.mkdir(parents=True)
    run.checkpoint.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(RunError, match=r"last.pt: corrupt or truncated checkpoint"):
        run.read_checkpoint()
    run.write_snapshot(0, np.arange(100, dtype=np.float32))
    (_, path), = run.snapshots()
    path.write_bytes(path.read_bytes()[:150])
    for mmap in (False, True):
        with pytest.raises(RunError, match=r"000000000.npy: corrupt or truncated array file"):
            read_npy(path, mmap)


def test_a_locked_run_or_site_names_the_holder(tmp_path):
    run = Run(tmp_path / "runs" / "a" / "id")
    with run.lock():
        with pytest.raises(Busy, match=rf"another reportgen is running {run.path} \(pid {os.getpid()}\)"):
            with run.lock():
                pass
    with run.lock():  # released: it can be taken again
        pass
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time; sys.path.insert(0, {str(ROOT)!r})
        from reportgen.store.lock import lock
        with lock({str(tmp_path / '.site.lock')!r}, "x"):
            print("locked", flush=True); time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(Busy, match=rf"another reportgen build is running on site/ \(pid {holder.pid}\)"):
            with lock(tmp_path / ".site.lock", "another reportgen build is running on site/"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with lock(tmp_path / ".site.lock", "x"):  # a killed holder's lock is free again
        pass


DIVERGE = spec.Experiment(name="boom", model=spec.MLP(depth=3, width=16, activation=spec.LeakyReLU(negative_slope=2)),
                          data=spec.Synthetic(n_train=64, n_test=16, shape=(1, 8, 8), classes=4),
                          optimizer=spec.SGD(lr=1e4), epochs=4, batch_size=16, record=spec.Record(every=1, snapshots=4),
                          figures=("gradient_diagram", "grad_norm", "lr_schedule", "weight_spectrum"))


def test_divergence_keeps_the_logs_and_the_figures_draw_up_to_its_step(tmp_path):
    run = Run(tmp_path / "boom")
    assert train.train(DIVERGE, run) == "diverged"
    status = run.status
    assert status["state"] == "diverged" and f"at step {status['step']}" in status["message"]
    e = run.epochs()
    assert len(e["step"]) >= status["step"] and np.isfinite(e["grad_norm"][:status["step"] - 1]).all()
    kept, written = run.trajectory(), run.snapshots()
    assert not np.isfinite(read_npy(written[-1][1])).all()  # after the divergence the weights are NaN...
    assert kept == [(s, p) for s, p in written if s < status["step"]] and len(kept) >= 2  # ...and not drawn
    assert all(np.isfinite(read_npy(p)).all() for _, p in kept)
    for name in DIVERGE.figures:
        written = figures.render(run, name, tmp_path / "out" / name, Style(), jobs=1)
        assert all(p.stat().st_size > 0 for p in written.values()), name


def test_jobs_run_side_by_side_and_a_divergence_does_not_stop_the_others(tmp_path):
    fine = config.override(DIVERGE, "optimizer.lr=0.01")
    entries = [Entry(e, Path("x.py"), Run(tmp_path / e.name / config.run_id(e)))
               for e in (DIVERGE, config.override(fine, "name='fine-a'"), config.override(fine, "name='fine-b'"))]
    steps = []
    states = {e.name: state for e, state in project.execute_all(entries, jobs=2, progress=steps.append)}
    assert states == {"boom": "diverged", "fine-a": "complete", "fine-b": "complete"}
    assert sum(steps) == 4 * 4 * 2 + len(entries[0].run.epochs()["step"])
    assert all(e.run.status["state"] == states[e.name] for e in entries)


PLANE = """
import sys
import numpy as np, torch
from torch import nn
from reportgen.compute import directions, landscape
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 4))
X, y = torch.randn(256, 16), torch.randint(0, 4, (256,))
d1, d2 = directions.random_direction(model, 1), directions.random_direction(model, 2)
grid = np.linspace(-1, 1, 25)
cache = sys.argv[1] if len(sys.argv) > 1 else None
result = landscape.plane(model, nn.CrossEntropyLoss(), X, y, None, d1, d2, grid, grid, budget=4_000_000, cache=cache)
np.save(sys.argv[2] if cache else sys.stdout.buffer, result.loss)
"""


def test_kill_9_during_a_landscape_then_resume_equals_an_uninterrupted_one(tmp_path):
    (tmp_path / "plane.py").write_text(PLANE)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    whole = np.load(__import__("io").BytesIO(subprocess.run([sys.executable, "plane.py"], cwd=tmp_path, env=env,
                                                             capture_output=True, check=True).stdout))
    cache, done = tmp_path / "plane.npz", [0]
    rng = random.Random(4)
    for _ in range(3):  # each time after a random number (1-3) of the chunks it saves, mid-way through the next
        proc = subprocess.Popen([sys.executable, "plane.py", str(cache), "out.npy"], cwd=tmp_path, env=env)
        seen, saves = done[-1], rng.randint(1, 3)
        while proc.poll() is None and saves:
            now = int(np.load(cache)["done"].sum()) if cache.exists() else 0
            saves, seen = saves - (now > seen), max(now, seen)
            time.sleep(0.005)
        proc.kill()
        proc.wait()
        done.append(int(np.load(cache)["done"].sum()))
    assert done == sorted(set(done)) and done[-1] < whole.size, done  # each kill came mid-way
    subprocess.run([sys.executable, "plane.py", str(cache), "out.npy"], cwd=tmp_path, env=env, check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), whole)


def test_a_run_finished_by_another_process_while_waiting_is_not_opened_again(tmp_path):
    """A second `run` decides it must run, then the first finishes and drops the lock: once it holds the
    lock, it must see the run finished and leave every file as it is."""
    entry = Entry(DIVERGE, Path("x.py"), Run(tmp_path / "boom"))
    assert project.execute(entry) == "diverged"
    before = {name: p.read_bytes() for name, p in files(entry.run.path).items()}
    assert project.execute(entry) == "diverged"
    assert {name: p.read_bytes() for name, p in files(entry.run.path).items()} == before


def test_a_failures_error_txt_goes_once_the_run_completes(tmp_path, monkeypatch):
    exp = config.override(DIVERGE, "optimizer.lr=0.01")
    entry = Entry(exp, Path("x.py"), Run(tmp_path / "fails-once"))

    def broken(*args):
        raise RuntimeError("CUDA error: an illegal memory access, say")
    with monkeypatch.context() as patch:
        patch.setattr(train, "forward_backward", broken)
        with pytest.raises(RuntimeError, match="illegal memory access"):
            project.execute(entry)
    assert entry.run.status["state"] == "failed" and (entry.run.path / "error.txt").exists()
    assert project.execute(entry) == "complete"
    assert not (entry.run.path / "error.txt").exists()

