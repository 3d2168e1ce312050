"""The instruments against plain references: sharpness against the explicit Hessian, update/weight ratios
against a step of torch.optim, activation health against its one-liners, and a run that records them all."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reportgen.compute import instruments, train
from reportgen.compute.instruments import Activations, health, positive
from reportgen.compute.sharpness import Meter, hutchinson, hvp_operator, lanczos
from reportgen.compute.steplog import StepLog
from reportgen.declare import SGD, Adam, Experiment, MLP, Record, ReLU, Sharpness, SpecError, Synthetic, Tanh
from reportgen.store.rundir import ACTS, Run


PLAIN = ("-DPLAIN", "-fno-openmp")   # the kernel as built without AVX2 or OpenMP (another machine's)


@pytest.fixture(params=["kernel", "plain kernel", "torch"])
def path(request, monkeypatch):
    """Every implementation of the per-step instruments: the CPU kernel as built here (AVX2, OpenMP), as built
    elsewhere (portable C++, its own threads), and torch's ops, as on a GPU."""
    lib = None if request.param == "torch" else instruments._kernel(*PLAIN * (request.param == "plain kernel"))
    assert lib or request.param == "torch", "no C++ compiler: the CPU kernel is untested"
    monkeypatch.setattr(instruments, "_kernel", lambda: lib)
    return request.param


def tiny_net(dtype=torch.float64):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).to(dtype)


def batch(dtype=torch.float64):
    g = torch.Generator().manual_seed(1)
    return torch.randn(20, 5, generator=g, dtype=dtype), torch.randint(0, 3, (20,), generator=g)


def explicit_hessian(net, x, y) -> torch.Tensor:
    params = list(net.parameters())
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    sizes = [p.numel() for p in params]

    def loss(w):
        parts = [t.view(p.shape) for t, p in zip(w.split(sizes), params)]
        out = torch.func.functional_call(net, {n: t for (n, _), t in zip(net.named_parameters(), parts)}, (x,))
        return F.cross_entropy(out, y)
    return torch.autograd.functional.hessian(loss, flat)


def test_top_eigenvalue_and_trace_match_the_explicit_hessian():
    net, (x, y) = tiny_net(), batch()
    h = explicit_hessian(net, x, y)
    exact = torch.linalg.eigvalsh(h)[-1]
    hvp = hvp_operator(net, list(net.parameters()), x, y)
    top, vec = lanczos(hvp, torch.randn(h.shape[0], dtype=h.dtype), 20)
    assert abs(top - exact) / exact < 1e-4
    assert torch.allclose(hvp(vec), top * vec, atol=1e-3 * float(exact))   # it is the eigenvector
    trace, se = hutchinson(hvp, h.shape[0], 4000, torch.Generator().manual_seed(0), h.dtype, "cpu")
    assert abs(trace - torch.trace(h)) < 3 * se and se < 0.05 * abs(torch.trace(h))


def test_preconditioned_sharpness_is_the_top_eigenvalue_of_p_inverse_h():
    net, (x, y) = tiny_net(), batch()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.9, 0.99))
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    h = explicit_hessian(net, x, y)
    v_hat = torch.cat([opt.state[p]["exp_avg_sq"].reshape(-1) / (1 - 0.99 ** 5) for p in net.parameters()])
    p_inv = torch.diag(1 / (v_hat.sqrt() + 1e-8))
    exact = torch.linalg.eigvals(p_inv @ h).real.max()
    top, limit, _, _ = Meter(net, x, y, iterations=len(h), probes=0).measure(opt, 1e-2)
    assert abs(top - exact) / exact < 1e-4
    assert limit == pytest.approx((2 + 2 * 0.9) / (1 - 0.9) / 1e-2, rel=1e-6)
    sgd = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.5)
    assert Meter(net, x, y, probes=0).measure(sgd, 0.1)[1] == pytest.approx(3 / 0.1)


def test_the_meter_leaves_training_as_it_was():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    x, y = batch(torch.float32)
    buffers, state = [b.clone() for b in net.buffers()], torch.get_rng_state()
    Meter(net, x, y, iterations=5, probes=3).measure(torch.optim.SGD(net.parameters(), lr=0.1), 0.1)
    assert all(torch.equal(a, b) for a, b in zip(buffers, net.buffers()))
    assert torch.equal(state, torch.get_rng_state()) and all(p.grad is None for p in net.parameters())


def plain_training(net, opt, batches, every, log=None, clamp=False):
    """Train on `batches`, with the step log if given, and the references computed the plain way. `clamp`:
    the log is told the optimizer stepped (as the training loop does), then the first layer's weights are
    clamped, which the next update is applied to."""
    ratios, health, seen = [], [], []
    for i, (x, y) in enumerate(batches, 1):
        out = net(x)
        if i % every == 0:
            hidden = [m(net[:k](x)) for k, m in enumerate(net) if isinstance(m, (nn.ReLU, nn.Tanh))]
            health.append([[a.abs()[a != 0].median().item(), (a == 0).float().mean().item(),
                            (a.abs() > 0.97).float().mean().item() if k == 1 else math.nan]
                           for k, a in enumerate(hidden)])
            seen.append(hidden[0] > 0)
        opt.zero_grad()
        F.cross_entropy(out, y).backward()
        if log:
            log.step(i, torch.tensor(0.0), torch.tensor(0.0), 0.1)
        before = [p.detach().clone() for p in net.parameters()]
        opt.step()
        if log and clamp:
            log.stepped()
        if i % every == 0:
            ratios.append([((p.detach() - b).norm() / b.norm()).item() for p, b in zip(net.parameters(), before)])
        if clamp:
            with torch.no_grad():
                net[0].weight.clamp_(-0.3, 0.3)
    dead = 1 - torch.stack(seen).any(0).any(0).float().mean().item()
    return np.array(ratios), np.array(health), dead


@pytest.mark.parametrize("every, clamp", [(2, False), (1, True)])
def test_update_ratios_and_activation_health_match_plain_computations(tmp_path, path, every, clamp):
    g = torch.Generator().manual_seed(2)
    batches = [(torch.randn(32, 10, generator=g), torch.randint(0, 3, (32,), generator=g)) for _ in range(6)]
    runs = []
    for log in (False, True):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))
        with torch.no_grad():
            net[0].bias.sub_(1.5)   # some units dead
        opt = torch.optim.Adam(net.parameters(), lr=0.05)
        rec = StepLog(net, Run(tmp_path / str(log)), every, updates=True, activations=True) if log else None
        runs.append(plain_training(net, opt, batches, every, rec, clamp) + ((rec.epoch(1),) if log else ()))
    (ratios, health, dead), (_, _, _, chunk) = runs
    assert chunk["grad_step"].tolist() == list(range(every, 7, every))
    np.testing.assert_allclose(chunk["update"], ratios, rtol=1e-5)
    np.testing.assert_allclose(chunk["act"], health, rtol=1e-6)
    assert chunk["act"].shape == (6 // every, 2, len(ACTS))
    np.testing.assert_allclose(chunk["act_dead"][0, 0], dead) and np.isnan(chunk["act_dead"][0, 1])
    assert 0 < dead < 1
    assert Run(tmp_path / "True").instruments["activations"] == [{"name": "1", "kind": "relu"},
                                                                 {"name": "3", "kind": "saturating"}]


def test_activation_health_on_each_path_is_torchs_bit_for_bit(path):
    """The kernel's one pass against `health` and `positive` on awkward outputs: zeros and -0.0, NaN and inf,
    both sides of the saturation limits, strided samples of uneven stride, vectors, 4-D, strided, half."""
    g = torch.Generator().manual_seed(4)
    big, odd = torch.randn(128, 256, generator=g), torch.randn(3, 7, 5, 9, generator=g)
    edge = torch.tensor([0.97, -0.97, 0.03, 0.5, 0.0, -0.0, 1.0, math.nan, math.inf, -math.inf])
    edge = torch.cat([edge, edge.nextafter(torch.tensor(math.inf)), edge.nextafter(torch.tensor(-math.inf))])
    cases = [big.clamp(min=0), big.tanh(), big.sigmoid(), torch.zeros(64, 300), torch.ones(10, 1000),
             torch.randn(5, 20001, generator=g), odd, odd.transpose(1, 3), edge.view(3, 10), edge, big.half(),
             big.double()]
    modules = [nn.ReLU(), nn.Tanh(), nn.Sigmoid()]
    for a in cases:
        acts = Activations(nn.Sequential(*modules))
        for i, m in enumerate(modules):
            acts.measure(i, m, a)
        got, want = acts.take(), torch.stack([health(a, m) for m in modules])
        assert torch.equal(got.nan_to_num(-1).view(torch.int32), want.nan_to_num(-1).view(torch.int32)), a.shape
        assert torch.equal(acts.alive[0], positive(a)) and acts.alive[1] is None


def test_a_run_records_every_instrument_and_resumes(tmp_path):
    exp = Experiment(name="t", model=MLP(depth=3, width=16, activation=ReLU()), optimizer=SGD(lr=0.05),
                     data=Synthetic(n_train=64, n_test=16, shape=(1, 4, 4), classes=3), epochs=3, batch_size=32,
                     record=Record(every=1, snapshots=0, updates=True, activations=True,
                                   sharpness=Sharpness(every=2, iterations=8, batch=32, probes=4)))
    run = Run(tmp_path / "r")
    train.train(exp, run)
    e = run.epochs()
    assert e["update"].shape == (6, 6) and e["act"].shape == (6, 2, 3) and e["act_dead"].shape == (3, 2)
    assert e["sharp_step"].tolist() == [0, 4] and np.all(e["sharp"] > 0)
    assert np.allclose(e["sharp_limit"], 2 / 0.05) and np.all(np.isfinite(e["trace"]))
    assert all(run.has(q) for q in ("updates", "activations", "sharpness")) and run.instruments["sharpness"] == "sgd"
    alone = Run(tmp_path / "alone")   # one instrument without the others
    train.train(replace(exp, record=Record(every=1, snapshots=0, sharpness=Sharpness(steps=3, iterations=4))), alone)
    assert alone.epochs()["sharp_step"].tolist() == [0, 3, 6] and not alone.has("updates")


def test_a_resumed_run_measures_the_sharpness_an_uninterrupted_one_does(tmp_path):
    """The warm start and the generator travel with the checkpoint: a run killed in its third epoch and resumed
    gives the same estimates (at one thread, to 1e-6) as one that ran through."""
    exp = Experiment(name="t", model=MLP(depth=3, width=16, activation=ReLU()), optimizer=Adam(lr=1e-2),
                     data=Synthetic(n_train=64, n_test=16, shape=(1, 4, 4), classes=3), epochs=4, batch_size=16,
                     record=Record(every=1, snapshots=0, sharpness=Sharpness(iterations=6, batch=32, probes=3)))
    whole, broken, threads = Run(tmp_path / "whole"), Run(tmp_path / "broken"), torch.get_num_threads()
    calls = []

    def crash(n):   # 4 steps an epoch: dies at the third epoch's second
        calls.append(n)
        if len(calls) == 10:
            raise KeyboardInterrupt
    torch.set_num_threads(1)
    try:
        train.train(exp, whole)
        with pytest.raises(KeyboardInterrupt):
            train.train(exp, broken, progress=crash)
        assert broken.status["epoch"] == 2
        train.train(exp, broken)
    finally:
        torch.set_num_threads(threads)
    a, b = whole.epochs(), broken.epochs()
    assert a["sharp_step"].tolist() == b["sharp_step"].tolist() == [0, 4, 8, 12, 16]
    for key in ("sharp", "trace", "trace_se"):
        np.testing.assert_allclose(b[key], a[key], rtol=1e-6, err_msg=key)


def test_bad_sharpness_is_one_line():
    with pytest.raises(SpecError, match=r"Sharpness.iterations = 1: .*2"):
        Sharpness(iterations=1)


def test_the_recorder_records_the_instruments_and_export_and_load_run_read_them(tmp_path):
    import reportgen
    from reportgen.store.export import export
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    with pytest.raises(ValueError, match="sharpness_batch"):
        reportgen.Recorder(net, tmp_path / "bad", sharpness=Sharpness())
    with reportgen.Recorder(net, tmp_path / "rec", every=2, updates=True, activations=True,
                            sharpness=Sharpness(iterations=5, probes=2), sharpness_batch=(x, y)) as rec:
        for _ in range(2):
            for i in range(0, 32, 8):
                loss = F.cross_entropy(net(x[i:i + 8]), y[i:i + 8])
                opt.zero_grad()
                loss.backward()
                rec.step(loss=loss, optimizer=opt)
                opt.step()
            rec.epoch()
    assert not net[1]._forward_hooks   # closed: the hooks are gone
    r = reportgen.load_run(tmp_path / "rec")
    assert r.instruments["update"].shape == (4, 4) and r.instruments["act"].shape == (4, 1, 3)
    assert r.instruments["sharp_step"].tolist() == [0, 4, 8] and r.instruments["sharpness"] == "adam"
    assert np.isnan(r.instruments["sharp"][0]) and np.all(r.instruments["sharp"][1:] > 0)  # Adam's P: after a step
    assert "update" not in r.metrics and r.instruments["activations"] == ["1"]
    assert export(tmp_path / "rec", "updates", "csv").splitlines()[0] == "step,parameter,update_ratio"
    assert len(export(tmp_path / "rec", "activations", "json").split('"module"')) == 5
    assert export(tmp_path / "rec", "sharpness", "csv").startswith("step,sharp,sharp_limit,trace,trace_se\n0,")


def test_a_claim_on_an_instrument_the_run_does_not_record_is_one_line():
    from reportgen.declare import DeadUnits
    with pytest.raises(SpecError, match=r"DeadUnits reads what Record\(activations=...\) measures"):
        Experiment(name="x", claims=(DeadUnits(),))
