"""The cluster executors in their real local modes: submitit's local executor (subprocesses, pickled units)
and a Ray started here. Their run directories must equal the in-process runner's, file by file."""
from __future__ import annotations

import json
import os
import signal
import socket
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from reportgen.compute import landscape
from reportgen.compute.execute import execute
from reportgen.executors.submit import submit
from reportgen.executors.options import Ray, Slurm
from reportgen.executors.units import state, where
from reportgen.pipeline import gather
from reportgen.store import lock as locks
from reportgen.store.entries import members
from reportgen.store.io import read_npz
from tests.crash import files, same

pytest.importorskip("submitit")
SWEEP = """
from reportgen.declare import *
EXPERIMENT = Sweep(
    name="grid", base=Experiment(name="b", model=MLP(depth=3, width=16),
                                 data=Synthetic(n_train=96, n_test=32, shape=(1, 4, 4), classes=3),
                                 epochs=2, batch_size=32, record=Record(every=1, snapshots=2)),
    grid={"optimizer.lr": (1e-3, 1e-2)},
)
"""
LANDSCAPE = """
from reportgen.declare import *
EXPERIMENT = Experiment(
    name="land", model=MLP(depth=3, width=16), data=Synthetic(n_train=96, n_test=32, shape=(1, 4, 4), classes=3),
    epochs=2, batch_size=32, record=Record(every=2, snapshots=2),
    landscape=Landscape(line=5, plane=7, samples=32, around="ends", pca_plane=True),
)
"""
LOCAL = Slurm(cluster="local", cpus=1)


def project(tmp_path: Path, name: str, text: str) -> Path:
    script = tmp_path / f"{name}.py"
    tmp_path.mkdir(parents=True, exist_ok=True)
    script.write_text(textwrap.dedent(text))
    return script


def reference(tmp_path: Path, text: str) -> Path:
    """The same declarations run in this process at one thread: the runs every executor must give."""
    script = project(tmp_path / "here", "x", text)
    for entry in gather((script,), tmp_path / "here" / "runs"):
        execute(entry)
    return tmp_path / "here" / "runs"


def assert_same_runs(ours: Path, theirs: Path) -> None:
    """Same files (leaving out locks, unit records and logs), equal contents; times may differ."""
    def kept(folder):
        return {k: p for k, p in files(folder).items()
                if not k.startswith(".submitit") and not Path(k).name.startswith(".")}
    a, b = kept(ours), kept(theirs)
    assert a.keys() == b.keys()
    for name in a:
        if name.endswith("status.json"):
            x, y = (json.loads(p.read_text()) for p in (a[name], b[name]))
            assert {k: v for k, v in x.items() if k != "updated"} == {k: v for k, v in y.items() if k != "updated"}
        elif name.endswith(".pt"):
            assert same(torch.load(a[name], weights_only=False), torch.load(b[name], weights_only=False)), name
        elif name.endswith(".npz"):
            assert same(dict(read_npz(a[name])), dict(read_npz(b[name]))), name
        else:
            assert a[name].read_bytes() == b[name].read_bytes(), name


@pytest.fixture(scope="module")
def ray_here():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sent_to(tmp_path: Path, text: str, options, **kwargs):
    script = project(tmp_path / "there", "x", text)
    runs = tmp_path / "there" / "runs"
    return submit(gather((script,), runs), options, runs, **kwargs), runs, script


@pytest.mark.parametrize("kind", ["submitit", "ray"])
def test_a_sweep_on_an_executor_equals_the_in_process_runs(tmp_path, kind, request):
    options = LOCAL if kind == "submitit" else (request.getfixturevalue("ray_here"), Ray(cpus=1))[1]
    out, runs, script = sent_to(tmp_path, SWEEP, options)
    assert len(out.sent) == 2 and not out.failed
    assert_same_runs(runs, reference(tmp_path, SWEEP))
    again, _, _ = sent_to(tmp_path, SWEEP, options)  # everything complete: nothing is sent
    assert again.sent == [] and not again.failed


def test_a_split_landscape_equals_the_one_computed_in_one_process(tmp_path):
    out, runs, _ = sent_to(tmp_path, LANDSCAPE, Slurm(cluster="local", landscape_units=3))
    assert out.sent == ["land (train)"] + [f"land (grid {k}/3)" for k in range(3)], out
    assert_same_runs(runs, reference(tmp_path, LANDSCAPE))


def test_grid_parts_merge_into_the_whole_grid_exactly(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    X, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    d = [[torch.randn_like(p) for p in model.parameters()] for _ in range(2)]
    ab = np.linspace(-1, 1, 9)
    whole = landscape.plane(model, torch.nn.CrossEntropyLoss(), X, y, None, *d, ab, ab).loss
    cache = tmp_path / "plane.npz"
    for k in (2, 0, 3):  # part 1 of 4 is left to the whole computation
        part = landscape.plane(model, torch.nn.CrossEntropyLoss(), X, y, None, *d, ab, ab, cache=cache, part=(k, 4))
        rows = np.array_split(np.arange(81), 4)[k]
        assert np.isfinite(part.loss.reshape(-1)[rows]).all() and np.isnan(np.delete(part.loss.reshape(-1), rows)).all()
    merged = landscape.plane(model, torch.nn.CrossEntropyLoss(), X, y, None, *d, ab, ab, cache=cache)
    np.testing.assert_array_equal(merged.loss, whole)
    assert [p.name for p in tmp_path.iterdir()] == ["plane.npz"]  # merged parts are gone


def test_a_failing_unit_is_reported_with_its_log_while_the_others_complete(tmp_path):
    broken = SWEEP.replace('"optimizer.lr": (1e-3, 1e-2)', '"data": (Synthetic(n_train=96, n_test=32, shape=(1, 4, 4), '
                           'classes=3), CIFAR10(root="no-such-folder"))')
    out, runs, _ = sent_to(tmp_path, broken, LOCAL)
    assert len(out.sent) == 2 and len(out.failed) == 1, out
    for line in out.failed:
        assert "CIFAR-10 not found" in line and Path(line.split("(log: ")[1][:-1]).exists(), line
    entry = gather((tmp_path / "there" / "x.py",), runs)[0]
    assert sorted(state(m.run) for m in members(entry)) == ["complete", "failed"]
    assert entry.run.status["state"] == "missing"  # the sweep is not collected with runs missing


def test_a_preempted_unit_is_requeued_and_a_killed_one_resumes_when_sent_again(tmp_path):
    """Member A gets the signal Slurm sends before preempting a job (submitit requeues it: it resumes from its
    checkpoint by itself); member B's process is killed (sent again, it resumes). Both end as in one process."""
    slow = SWEEP.replace("epochs=2", "epochs=8").replace("n_train=96", "n_train=1500")
    script = project(tmp_path / "there", "x", slow)
    runs = tmp_path / "there" / "runs"
    entry = gather((script,), runs)[0]
    a, b = members(entry)
    result = {}
    thread = threading.Thread(target=lambda: result.update(out=submit([entry], LOCAL, runs)))
    thread.start()
    while min(m.run.status["epoch"] for m in (a, b)) < 2:
        time.sleep(0.05)
    holder = {m: json.loads(m.run.lock_path.read_text())["pid"] for m in (a, b)}  # the units' own processes
    os.kill(holder[a], signal.SIGUSR2)
    os.kill(holder[b], signal.SIGKILL)
    thread.join()
    assert [line.split(":")[0] for line in result["out"].failed] == [b.name], result["out"]
    assert a.run.status["state"] == "complete" and state(b.run) == "failed"
    assert "Requeued" in Path(where(a.run, "run")["log"]).with_suffix(".out").read_text()
    again = submit(gather((script,), runs), LOCAL, runs)
    assert again.sent == [b.name] and not again.failed
    assert_same_runs(runs, reference(tmp_path, slow))


def test_the_lock_is_taken_over_only_from_a_gone_holder(tmp_path, monkeypatch):
    path = tmp_path / ".x.lock"
    far = {"host": "node-17", "pid": 4242, "job": None, "restart": 0}
    path.write_text(json.dumps(far))
    with pytest.raises(locks.Busy, match=r"busy \(pid 4242\)"):  # another host, heartbeat fresh
        with locks.lock(path, "busy"):
            pass
    os.utime(path, (time.time() - 2 * locks.STALE,) * 2)  # its heartbeat stopped
    with locks.lock(path, "busy"):
        assert json.loads(path.read_text())["host"] == socket.gethostname()
    assert not path.exists()
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    path.write_text(json.dumps(far | {"job": "77", "restart": 0}))  # the same job before its requeue
    with locks.lock(path, "busy"):
        pass
    path.write_text(json.dumps(far | {"job": "77", "restart": 1}))  # a second task of the same start
    with pytest.raises(locks.Busy):
        with locks.lock(path, "busy"):
            pass


def test_a_held_lock_beats_its_heartbeat(tmp_path, monkeypatch):
    monkeypatch.setattr(locks, "HEARTBEAT", 0.05)
    path = tmp_path / ".x.lock"
    with locks.lock(path, "busy"):
        os.utime(path, (0, 0))
        time.sleep(0.3)
        assert time.time() - path.stat().st_mtime < 1 and locks.held(path)
    assert not locks.held(path)


def test_build_trains_on_the_executor_and_draws_here(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from reportgen.cli import main
    project(tmp_path, "one", SWEEP)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reportgen.toml").write_text('[executor]\nname = "slurm"\ncluster = "local"\n')
    result = CliRunner().invoke(main, ["build", "one.py"])
    assert result.exit_code == 0, result.output
    assert "sent 2 units to submitit-local" in result.stderr and (tmp_path / "site" / "grid" / "index.html").exists()
    listed = CliRunner().invoke(main, ["list", "one.py"]).stdout.splitlines()
    assert [line.split()[0] for line in listed] == ["grid", "grid.lr0.001", "grid.lr0.01"]
    assert all(" complete " in line for line in listed)
