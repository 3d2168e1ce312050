"""The tuning playbook's diagnostics: schedules against torch.optim and their formulas, gradient clipping."""
import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as torch_sched

from reportgen.compute import optim, runtime, train
from reportgen.compute.steplog import clip_warning
from reportgen.declare import Adam, Clip, Cosine, Cyclic, Experiment, LinearDecay, MLP, Record, SGD, SpecError, StepDecay, Synthetic, Warmup, WarmupCooldown
from reportgen.store.rundir import Run

pytestmark = pytest.mark.usefixtures("one_thread")

TOTAL = 50


def trace(make, opt_spec, total: int) -> np.ndarray:
    """The lr before each of `total` steps under the scheduler make(optimizer)."""
    opt = optim.build(opt_spec, [torch.zeros(1, requires_grad=True)])
    s = make(opt)
    lrs = []
    for _ in range(total):
        lrs.append(s.get_last_lr()[0])
        opt.step()
        s.step()
    return np.array(lrs)


def ours(sched, lr=0.1, total=TOTAL, opt_spec=None):
    opt_spec = opt_spec or SGD(lr=lr)
    return trace(lambda opt: optim.schedule(opt_spec, opt, total, sched), opt_spec, total)


def theirs(make, lr=0.1, total=TOTAL):
    return trace(make, SGD(lr=lr), total)


@pytest.mark.parametrize("sched, make", [
    (Warmup(steps=10), lambda o: torch_sched.LinearLR(o, start_factor=1 / 10, end_factor=1.0, total_iters=9)),
    (Cosine(final=0.1), lambda o: torch_sched.CosineAnnealingLR(o, T_max=TOTAL - 1, eta_min=0.01)),
    (LinearDecay(final=0.2), lambda o: torch_sched.LinearLR(o, start_factor=1.0, end_factor=0.2,
                                                           total_iters=TOTAL - 1)),
    (StepDecay(every=7, gamma=0.5), lambda o: torch_sched.StepLR(o, step_size=7, gamma=0.5)),
    (Cyclic(period=12, low=0.25), lambda o: torch_sched.CyclicLR(o, base_lr=0.025, max_lr=0.1, step_size_up=6,
                                                                 mode="triangular", cycle_momentum=False)),
], ids=lambda v: type(v).__name__ if not callable(v) else "")
def test_schedules_equal_torch(sched, make):
    assert np.allclose(ours(sched), theirs(make), rtol=1e-9, atol=1e-12)


def test_schedules_with_a_warmup_follow_their_formulas():
    t = np.arange(TOTAL)
    ramp = np.minimum(1, (t + 1) / 10)
    u = np.clip((t - 10) / (TOTAL - 1 - 10), 0, 1)
    assert np.allclose(ours(Cosine(warmup=10, final=0.0)), 0.1 * ramp * (1 + np.cos(np.pi * u)) / 2)
    assert np.allclose(ours(LinearDecay(warmup=10, final=0.5)), 0.1 * ramp * (1 - 0.5 * u))
    cooldown = np.minimum(1, (TOTAL - t) / 20)
    lrs = ours(WarmupCooldown(warmup=10, cooldown=20))
    assert np.allclose(lrs, 0.1 * ramp * cooldown)
    assert lrs[0] == pytest.approx(0.01) and lrs[25] == pytest.approx(0.1) and lrs[-1] == pytest.approx(0.1 / 20)


def test_a_schedule_multiplies_the_pairs_decay():
    pair = Adam(lr=(1e-2, 1e-4))
    t = np.arange(TOTAL)
    decay = 1e-2 * (1e-2) ** (t / (TOTAL - 1))
    assert np.allclose(ours(None, opt_spec=pair), decay)
    assert np.allclose(ours(Warmup(steps=5), opt_spec=pair), decay * np.minimum(1, (t + 1) / 5))


@pytest.mark.parametrize("bad, words", [
    (lambda: Warmup(steps=0), "Warmup.steps = 0"),
    (lambda: Cosine(final=2.0), "Cosine.final = 2.0"),
    (lambda: Cyclic(period=1), "Cyclic.period = 1"),
    (lambda: StepDecay(gamma=0.0), "StepDecay.gamma = 0.0"),
    (lambda: Clip(threshold="sometimes"), "Clip.threshold = 'sometimes'"),
    (lambda: Clip(threshold=0.0), "Clip.threshold = 0.0"),
    (lambda: Experiment(name="a", schedule="cosine"), "Experiment.schedule = 'cosine'"),
])
def test_bad_schedules_and_clips_are_named(bad, words):
    with pytest.raises(SpecError, match=words):
        bad()


# ---- clipping in the runner ----------------------------------------------------------------------
TINY = Synthetic(n_train=96, n_test=32, shape=(1, 8, 8), classes=4)


def tiny(**kw):
    base = dict(name="t", model=MLP(depth=4, width=16), data=TINY, optimizer=SGD(lr=0.05),
                epochs=3, batch_size=32, record=Record(every=1, snapshots=2))
    return Experiment(**{**base, **kw})


def plain_clipped_sgd(threshold: float, exp) -> tuple[np.ndarray, torch.nn.Module]:
    """The same run as a plain PyTorch loop with torch's clip_grad_norm_: the norms it saw, the model."""
    from reportgen.compute import data, models
    runtime.seed_everything(exp.seed)
    ds = data.load(exp.data)
    model = models.build(exp.model, tuple(ds.x_train.shape[1:]), len(ds.classes))
    opt = torch.optim.SGD(model.parameters(), lr=exp.optimizer.lr)
    order = torch.Generator().manual_seed(exp.seed)
    norms = []
    for _ in range(exp.epochs):
        for idx in torch.randperm(len(ds.x_train), generator=order).split(exp.batch_size):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(ds.x_train[idx]), ds.y_train[idx]).backward()
            norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), threshold).item())
            opt.step()
    return np.array(norms), model


def test_a_fixed_clip_equals_torchs_clip_grad_norm_and_logs_the_unclipped_norm(tmp_path):
    exp = tiny(clip=Clip(threshold=0.2))
    run = Run(tmp_path / "r")
    train.train(exp, run)
    norms, model = plain_clipped_sgd(0.2, exp)
    e = run.epochs()
    assert np.allclose(e["grad_norm"], norms, rtol=1e-5)
    assert e["clipped"].tolist() == (norms > 0.2).tolist() and 0 < e["clipped"].sum() < len(norms)
    assert e["epoch_clip"].tolist() == [0.2] * 3
    ours_w = run.read_checkpoint()["model"]
    for k, v in model.state_dict().items():
        assert torch.allclose(ours_w[k], v, atol=1e-6), k


def test_auto_clip_is_the_90th_percentile_of_an_unclipped_probe(tmp_path):
    free, auto = Run(tmp_path / "free"), Run(tmp_path / "auto")
    train.train(tiny(), free)
    train.train(tiny(clip=Clip(probe=6)), auto)
    expected = np.quantile(free.epochs()["grad_norm"][:6].astype(np.float64), 0.9)
    threshold = auto.epochs()["epoch_clip"][0]
    assert threshold == pytest.approx(expected, rel=1e-5)
    assert auto.read_checkpoint()["clip"] == threshold
    # the probe ran on copies: the first step of the clipped run saw the same gradient as the free run
    assert auto.epochs()["grad_norm"][0] == free.epochs()["grad_norm"][0]
    assert np.isnan(free.epochs()["epoch_clip"]).all() and not free.epochs()["clipped"].any()


def test_resume_keeps_the_auto_threshold_and_equals_an_uninterrupted_run(tmp_path):
    whole, broken = Run(tmp_path / "whole"), Run(tmp_path / "broken")
    exp = tiny(clip=Clip(probe=5))
    train.train(exp, whole)
    calls = []

    def crash(n):
        calls.append(n)
        if len(calls) == 8:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train.train(exp, broken, progress=crash)
    train.train(exp, broken)
    for key, value in whole.epochs().items():
        assert np.array_equal(value, broken.epochs()[key], equal_nan=True), key


def test_clipping_most_steps_warns_of_a_learning_rate_cut(tmp_path):
    run = Run(tmp_path / "r")
    train.train(tiny(clip=Clip(threshold=1e-3)), run)
    assert run.epochs()["clipped"].all()
    assert "acted on 100% of the steps" in run.status["message"] and "learning-rate cut" in run.status["message"]
    assert clip_warning(np.array([True, False]), 1.0) == "" and clip_warning(np.array([True]), None) == ""
    train.train(tiny(), quiet := Run(tmp_path / "s"))
    assert quiet.status["message"] == ""


# ---- the sweep figures ---------------------------------------------------------------------------
SWEEP_BASE = Experiment(name="base", model=MLP(depth=3, width=16), optimizer=SGD(lr=0.1), epochs=3,
                        data=Synthetic(n_train=96, n_test=32, shape=(1, 6, 6), classes=3, noise=0.3), batch_size=16,
                        record=Record(every=4, snapshots=0), schedule=Warmup(steps=1))
RED = np.array([0xC0, 0x39, 0x2B])  # the warnings and crosses
THRESHOLD = np.array([0xD6, 0x27, 0x28])  # style.colors[1] of the light theme: the clipping threshold


def sweep_run(tmp_path, monkeypatch, grid, metric="test_loss"):
    from reportgen.compute.execute import execute
    from reportgen.declare.config import run_id
    from reportgen.store.entries import Entry
    from reportgen.declare import Sweep
    monkeypatch.setenv("J", "1")  # members one after the other in this process: no worker start-up
    sweep = Sweep(name="sw", base=SWEEP_BASE, grid=grid, metric=metric)
    entry = Entry(sweep, tmp_path / "sw.py", Run(tmp_path / "runs" / "sw" / run_id(sweep)))
    assert execute(entry) == "complete"
    return entry.run


def red_pixels(png, color=RED) -> int:
    import imageio.v3 as iio
    rgb = iio.imread(png)[..., :3].astype(int)
    return int((np.abs(rgb - color).sum(-1) < 30).sum())


def test_lr_sweep_marks_the_diverged_rate_and_warns_when_the_best_borders_it(tmp_path, monkeypatch):
    from reportgen.draw import figures
    from reportgen.draw.style import Style
    from reportgen.draw.figures.lr_sweep import edge_warning, members
    run = sweep_run(tmp_path, monkeypatch, {"optimizer.lr": (0.1, 1.0, 1e5)})
    ms = sorted(members(run, "optimizer.lr"), key=lambda m: m.value)
    assert [m.value for m in ms] == [0.1, 1.0, 1e5]
    assert ms[2].infeasible.startswith("diverged at step") and np.isnan(ms[2].best)
    assert [m.infeasible for m in ms[:2]] == ["", ""] and ms[1].best < ms[0].best  # 1.0 learns faster
    assert edge_warning(ms, ms[1]) == f"the best sits at the edge of the unstable region (100000: {ms[2].infeasible})"
    assert edge_warning(ms[:2], ms[1]) == "the best is at the end of the range tried: widen the sweep"
    assert edge_warning(ms, None).startswith("no run trained")
    png = figures.render(run, "lr_sweep", tmp_path / "out" / "lr_sweep", Style(), jobs=1)["png"]
    assert red_pixels(png) > 200  # the cross and the warning


def test_warmup_sweep_draws_one_curve_per_warmup_and_the_outcome(tmp_path, monkeypatch):
    from reportgen.draw import figures
    from reportgen.draw.style import Style
    from reportgen.draw.figures.lr_sweep import members
    run = sweep_run(tmp_path, monkeypatch, {"schedule.steps": (1, 10), "optimizer.lr": (0.3,)}, "test_accuracy")
    ms = members(run, "schedule.steps")
    assert [m.value for m in ms] == [1, 10]
    assert [m.run.epochs()["lr"][0] for m in ms] == pytest.approx([0.3, 0.03])
    png = figures.render(run, "warmup_sweep", tmp_path / "out" / "warmup_sweep", Style(), jobs=1)["png"]
    assert red_pixels(png) == 0  # nothing infeasible, nothing red
    with pytest.raises(ValueError, match="needs a sweep over one field named 'lr'; it swept schedule.steps"):
        figures.render(run, "lr_sweep", tmp_path / "out" / "lr_sweep", Style(), jobs=1)


# ---- grad_norm and lr_schedule -----------------------------------------------------------------
def test_grad_norm_draws_the_norms_the_threshold_and_the_histogram(tmp_path):
    import imageio.v3 as iio
    from reportgen.draw import figures
    from reportgen.draw.style import Style
    from reportgen.draw.figures.grad_norm import GradNorm
    clipped, free = Run(tmp_path / "c"), Run(tmp_path / "f")
    train.train(tiny(clip=Clip(threshold=0.2), epochs=4), clipped)
    train.train(tiny(epochs=4), free)
    anim = GradNorm(str(clipped.path), Style())
    e = clipped.epochs()
    anim.update(anim.n_frames - 1)
    raw, _ = anim.fig.axes[0].lines[:2]
    assert np.array_equal(raw.get_ydata(), e["grad_norm"]) and anim.fig.axes[0].get_yscale() == "log"
    assert sum(b.get_width() for b in anim.bars) == len(e["grad_norm"])  # every step in the histogram
    assert f"clipped at 0.2: {e['clipped'].mean():.0%}" in anim.note.get_text()
    p90 = np.quantile(e["grad_norm"].astype(np.float64), 0.9)
    assert anim.p90[0].get_ydata()[0] == pytest.approx(p90)
    written = {name: figures.render(run, "grad_norm", tmp_path / name, Style(), jobs=1)
               for name, run in (("c", clipped), ("f", free))}
    frames = iio.imread(written["c"]["gif"])
    assert frames.shape[0] == anim.n_frames == 12 and frames.shape[1:3] == (450, 800)
    assert red_pixels(written["c"]["png"], THRESHOLD) > 500 and red_pixels(written["f"]["png"], THRESHOLD) == 0


def test_lr_schedule_draws_the_recorded_rate_under_the_loss(tmp_path):
    from reportgen.draw.style import Style
    from reportgen.draw.figures.lr_schedule import LrSchedule
    run = Run(tmp_path / "r")
    train.train(tiny(schedule=Cyclic(period=4, low=0.2), epochs=2), run)
    fig = LrSchedule(str(run.path), Style()).fig
    lr = run.epochs()["lr"]
    assert np.allclose(fig.axes[1].lines[0].get_ydata(), lr) and np.allclose(lr, ours(Cyclic(period=4, low=0.2),
                                                                                     lr=0.05, total=6))
    assert np.array_equal(fig.axes[0].lines[0].get_ydata(), run.epochs()["loss"])
