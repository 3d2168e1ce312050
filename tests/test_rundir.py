"""The run directory: round trip, atomic writes, corrupt and foreign files named."""
import json

import numpy as np
import pytest

from reportgen.declare import Experiment, MLP
from reportgen.store import io
from reportgen.store.io import RunError
from reportgen.store.rundir import Run


def test_round_trip(tmp_path):
    exp = Experiment(name="a", model=MLP(depth=3))
    run = Run(tmp_path / "a" / "id0")
    run.create(exp, env={"torch": "x"})
    run.write_params([("0.weight", (4, 3)), ("0.bias", (4,))])
    run.write_epoch(1, step=np.arange(1, 4), loss=np.ones(3), grad_step=np.array([3]),
                    epoch_test_loss=np.float64(0.5))
    run.write_epoch(2, step=np.arange(4, 7), loss=np.zeros(3), grad_step=np.array([6]), epoch_test_loss=np.float64(0.25))
    run.write_snapshot(0, np.arange(16, dtype=np.float64))
    run.set_status("complete", 2, 6)
    again = Run(run.path)
    assert again.config == exp and again.kind == "train" and again.env == {"torch": "x"}
    assert again.params[0] == {"name": "0.weight", "shape": [4, 3], "numel": 12}
    e = again.epochs()
    assert e["step"].tolist() == [1, 2, 3, 4, 5, 6] and e["epoch_test_loss"].tolist() == [0.5, 0.25]
    (step, path), = again.snapshots()
    assert step == 0 and np.load(path).dtype == np.float32
    assert again.status["state"] == "complete" and again.has("gradients") and not again.has("trajectory")


def test_epochs_stop_at_the_status_epoch(tmp_path):
    run = Run(tmp_path / "r")
    for k in (1, 2, 3):
        run.write_epoch(k, step=np.array([k]))
    run.set_status("running", 2, 2)
    assert run.epochs()["step"].tolist() == [1, 2]


def test_corrupt_and_truncated_files_are_named(tmp_path):
    run = Run(tmp_path / "r")
    run.create(Experiment(name="a"))
    run.write_epoch(1, step=np.arange(100))
    chunk = run.path / "epochs" / "000001.npz"
    chunk.write_bytes(chunk.read_bytes()[:50])
    with pytest.raises(RunError, match="000001.npz: corrupt or truncated"):
        run.epochs()
    (run.path / "status.json").write_text('{"state": "compl')
    with pytest.raises(RunError, match="status.json: corrupt JSON"):
        run.status


def test_a_run_from_another_format_is_refused(tmp_path):
    run = Run(tmp_path / "r")
    run.create(Experiment(name="a"))
    meta = json.loads((run.path / "config.json").read_text())
    (run.path / "config.json").write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(RunError, match="run format 99.*reads format 1"):
        run.config


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    io.write_json(path, {"a": 1})

    def broken(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(io.os, "fsync", broken)
    with pytest.raises(OSError):
        io.write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
