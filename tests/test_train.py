"""The training runner: the talk's statistic, determinism, exact resume, divergence."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reportgen.compute import data, models, train
from reportgen.compute.steplog import StepLog as Recorder
from reportgen.declare import Adam, Experiment, LeakyReLU, MLP, Record, SGD, Synthetic
from reportgen.store.rundir import Run, STATS

TINY = Synthetic(n_train=96, n_test=32, shape=(1, 8, 8), classes=4)


def tiny(**kw):
    base = dict(name="t", model=MLP(depth=4, width=16), data=TINY, optimizer=Adam(lr=(1e-3, 1e-4)),
                epochs=3, batch_size=32, record=Record(every=1, snapshots=2))
    return Experiment(**{**base, **kw})


def test_recorded_medians_equal_the_talks_one_liner(tmp_path):
    torch.manual_seed(0)
    model = models.build(MLP(depth=12, width=32, activation=LeakyReLU(negative_slope=0.01)), (1, 8, 8), 4)
    ds = data.synthetic(64, 16, 4, (1, 8, 8))
    F.cross_entropy(model(ds.x_train), ds.y_train).backward()
    rec = Recorder(model, Run(tmp_path / "r"), every=1)
    rec.step(1, torch.tensor(1.0), torch.tensor(0.5), 1e-3)
    chunk = rec.epoch(1)
    one_liner = [(n, p.grad.view(-1)[p.grad.view(-1) != 0].abs().log10().median().item())
                 for n, p in model.named_parameters()]
    assert chunk["grad"].shape == (1, len(one_liner), len(STATS))
    assert chunk["grad"][0, :, STATS.index("median")].tolist() == [v for _, v in one_liner]
    assert [p["name"] for p in Run(tmp_path / "r").params] == [n for n, _ in one_liner]


def test_same_seed_same_logs_and_a_different_seed_differs(tmp_path):
    a, b, c = (Run(tmp_path / n) for n in "abc")
    train.train(tiny(), a)
    train.train(tiny(), b)
    train.train(tiny(seed=1), c)
    ea, eb, ec = a.epochs(), b.epochs(), c.epochs()
    for key in ea:
        assert np.array_equal(ea[key], eb[key], equal_nan=True), key
    assert not np.array_equal(ea["loss"], ec["loss"])
    assert a.status["state"] == "complete" and a.status["step"] == 9
    assert [s for s, _ in a.snapshots()] == [0, 2, 3, 6, 9]


def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path):
    whole, broken = Run(tmp_path / "whole"), Run(tmp_path / "broken")
    train.train(tiny(), whole)
    calls = []

    def crash(n):  # dies in the middle of the third epoch
        calls.append(n)
        if len(calls) == 8:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train.train(tiny(), broken, progress=crash)
    assert broken.status["epoch"] == 2
    train.train(tiny(), broken)
    for key, value in whole.epochs().items():
        assert np.array_equal(value, broken.epochs()[key], equal_nan=True), key
    assert torch.equal(*(torch.load(r.checkpoint, weights_only=False)["model"]["1.weight"] for r in (whole, broken)))
    for (s1, p1), (s2, p2) in zip(whole.snapshots(), broken.snapshots(), strict=True):
        assert s1 == s2 and np.array_equal(np.load(p1), np.load(p2))


def test_lr_pair_decays_geometrically_from_start_to_end(tmp_path):
    run = Run(tmp_path / "r")
    train.train(tiny(), run)
    lr = run.epochs()["lr"]
    assert lr[0] == pytest.approx(1e-3) and lr[-1] == pytest.approx(1e-4)
    assert np.allclose(lr[1:] / lr[:-1], (0.1) ** (1 / 8))


def test_divergence_stops_the_run_and_names_the_step(tmp_path):
    run = Run(tmp_path / "r")
    state = train.train(tiny(optimizer=SGD(lr=1e6), model=MLP(depth=4, width=16, activation=LeakyReLU(negative_slope=2))), run)
    assert state == "diverged"
    s = run.status
    assert s["state"] == "diverged" and "NaN/inf at step" in s["message"] and s["step"] >= 1
