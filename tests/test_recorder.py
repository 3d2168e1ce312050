"""reportgen.Recorder on plain loops: the runner's logs, AMP, accumulation, compile, DDP, the site, load_run."""
import json
import math
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from click.testing import CliRunner

import reportgen
from reportgen import cli
from reportgen import pipeline
from reportgen.compute import data, models, optim, runtime, train
from reportgen.compute.steplog import LOGS
from reportgen.declare import Adam, Experiment, MLP, Record, Synthetic
from reportgen.store.rundir import Run, STATS

from loops import batch, ddp_worker, mlp

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plain_loop.py"
MEDIAN, L2 = STATS.index("median"), STATS.index("l2")


def the_talks_medians(model) -> list[float]:
    return [p.grad.view(-1)[p.grad.view(-1) != 0].abs().log10().median().item() for p in model.parameters()]


# ---------------------------------------------------------------- the same logs as the runner


def record_like_train(exp: Experiment, path: Path) -> Run:
    """train.train's loop, written as a user would, recorded by the public API."""
    runtime.seed_everything(exp.seed)
    ds = data.load(exp.data)
    model = models.build(exp.model, tuple(ds.x_train.shape[1:]), len(ds.classes))
    opt = optim.build(exp.optimizer, model.parameters())
    sched = optim.schedule(exp.optimizer, opt, math.ceil(len(ds.x_train) / exp.batch_size) * exp.epochs)
    order = torch.Generator().manual_seed(exp.seed)
    with reportgen.Recorder(model, path, {"seed": exp.seed}, every=exp.record.every) as rec:
        for _ in range(exp.epochs):
            for idx in train.batches(len(ds.x_train), exp.batch_size, order, "cpu"):
                out, loss = train.forward_backward(model, opt, ds.x_train[idx], ds.y_train[idx])
                rec.step(loss=loss, optimizer=opt, accuracy=(out.argmax(1) == ds.y_train[idx]).float().mean())
                opt.step()
                sched.step()
            test_loss, test_accuracy = train.evaluate(model, ds.x_test, ds.y_test)
            rec.epoch(test_loss=test_loss, test_accuracy=test_accuracy)
    return rec.run


def test_a_recorded_loop_logs_exactly_what_the_declared_experiment_logs(tmp_path):
    exp = Experiment(name="t", model=MLP(depth=4, width=16), data=Synthetic(n_train=96, n_test=32, shape=(1, 8, 8),
                     classes=4), optimizer=Adam(lr=(1e-3, 1e-4)), epochs=2, batch_size=32,
                     record=Record(every=1, snapshots=2))
    declared = Run(tmp_path / "declared")
    train.train(exp, declared)
    recorded = record_like_train(exp, tmp_path / "runs" / "t")
    a, b = declared.epochs(), recorded.epochs()
    assert len(a["step"]) == 6 and a["grad"].shape == (6, 8, len(STATS))
    for key in ("step", "loss", "accuracy", "lr", "grad_norm", "clipped", "grad_step", "grad", "epoch_test_loss",
                "epoch_test_accuracy", "epoch_end"):
        assert np.array_equal(a[key], b[key], equal_nan=True), key
    assert declared.params == recorded.params
    snaps = dict(recorded.snapshots())
    assert sorted(snaps) == [0, 3, 6]  # the start, then each epoch's end
    for step, p in declared.snapshots():
        if step in snaps:
            assert np.array_equal(np.load(p), np.load(snaps[step])), step
    assert recorded.status["state"] == "complete" and recorded.status["step"] == 6
    assert recorded.kind == "recorded" and recorded.config.config == {"seed": 0}


# ---------------------------------------------------------------- what the optimizer sees


def test_accumulated_gradients_schedule_and_every_are_the_optimizers(tmp_path):
    model, (x, y) = mlp(), batch(16)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    norms, medians, lrs = [], [], []
    with reportgen.Recorder(model, tmp_path / "acc", every=2, snapshots=1, checkpoint_every=1) as rec:
        for _ in range(4):
            opt.zero_grad()
            for half in (slice(0, 8), slice(8, 16)):  # two micro-batches, one optimizer step
                (F.cross_entropy(model(x[half]), y[half]) / 2).backward()
            norms.append(torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()])).item())
            medians.append(the_talks_medians(model))
            lrs.append(sched.get_last_lr()[0])
            rec.step(loss=1.0, optimizer=opt)
            opt.step()
            sched.step()
        assert not rec.run.checkpoint.exists()  # checkpoints come with epochs, and only when asked for
        rec.epoch()
    saved = torch.load(rec.run.checkpoint, weights_only=False)
    assert saved["step"] == 4 and saved["optimizer"]["param_groups"][0]["lr"] == opt.param_groups[0]["lr"]
    assert all(torch.equal(saved["model"][k], v) for k, v in model.state_dict().items())
    r = reportgen.load_run(rec.run.path)
    assert r.metrics["step"].tolist() == [1, 2, 3, 4] and r.metrics["lr"].tolist() == lrs
    np.testing.assert_allclose(r.metrics["grad_norm"], norms, rtol=1e-6)
    assert r.grad_step.tolist() == [2, 4]
    assert r.grad[:, :, MEDIAN].tolist() == [medians[1], medians[3]]
    assert np.isnan(r.metrics["accuracy"]).all() and r.metrics["loss"].tolist() == [1.0] * 4
    assert r.trajectory.steps.tolist() == [0, 1, 2, 3, 4]
    weights = torch.cat([p.detach().flatten() for p in model.parameters()]).numpy()
    assert np.array_equal(r.trajectory[-1], weights)


# ---------------------------------------------------------------- AMP


def amp_loop(path, steps=3, autocast=True, scaler=None, tell=True, unscale_first=False, overflow_at=None):
    """A loop under CPU autocast (bfloat16) with an optional GradScaler; `tell`: give it to the recorder."""
    model, (x, y) = mlp(), batch()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with reportgen.Recorder(model, path, every=1) as rec:
        for i in range(1, steps + 1):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = F.cross_entropy(model(x), y) * (math.inf if i == overflow_at else 1)
            opt.zero_grad()
            (scaler.scale(loss) if scaler else loss).backward()
            if unscale_first:
                scaler.unscale_(opt)
            rec.step(loss=loss, optimizer=opt, scaler=scaler if tell else None)
            if scaler:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
    return reportgen.load_run(rec.run.path)


def test_amp_records_the_unscaled_gradients(tmp_path):
    fp32 = amp_loop(tmp_path / "fp32", autocast=False)
    amp = amp_loop(tmp_path / "amp", scaler=torch.amp.GradScaler("cpu", init_scale=2.0**14))
    first = amp_loop(tmp_path / "first", scaler=torch.amp.GradScaler("cpu", init_scale=2.0**14), unscale_first=True)
    untold = amp_loop(tmp_path / "untold", scaler=torch.amp.GradScaler("cpu", init_scale=2.0**14), tell=False)
    assert amp.metrics["step"].tolist() == [1, 2, 3]
    # bfloat16 keeps 8 bits: medians agree with float32's to ~0.01 in log10; a bias's q05 (16 entries:
    # its smallest) moves more. Still scaled, they would all be 14 log10(2) = 4.2 higher.
    np.testing.assert_allclose(amp.grad[:, :, MEDIAN], fp32.grad[:, :, MEDIAN], atol=0.03)
    np.testing.assert_allclose(amp.grad[:, :, LOGS], fp32.grad[:, :, LOGS], atol=0.3)
    np.testing.assert_allclose(amp.grad[:, :, L2], fp32.grad[:, :, L2], rtol=0.05)
    np.testing.assert_allclose(amp.metrics["grad_norm"], fp32.metrics["grad_norm"], rtol=0.05)
    np.testing.assert_allclose(first.grad, amp.grad, rtol=1e-5)  # unscale_ first: taken as they are
    np.testing.assert_allclose(untold.grad[:, :, LOGS] - amp.grad[:, :, LOGS], 14 * math.log10(2), atol=1e-5)


def test_steps_the_scaler_skips_are_left_out(tmp_path):
    run = amp_loop(tmp_path / "skip", steps=4, scaler=torch.amp.GradScaler("cpu"), overflow_at=2)
    assert run.metrics["step"].tolist() == [1, 3, 4] and run.grad_step.tolist() == [1, 3, 4]
    assert np.isfinite(run.grad).all() and run.status["state"] == "complete"


# ---------------------------------------------------------------- wrappers: compile, DDP


def test_a_compiled_model_is_recorded_under_its_own_names(tmp_path):
    # aot_eager: dynamo's graph capture and AOTAutograd's backward; inductor's C++ build takes ~40 s here
    model, (x, y) = mlp(), batch()
    compiled = torch.compile(model, backend="aot_eager")
    opt = torch.optim.SGD(compiled.parameters(), lr=0.1)
    with reportgen.Recorder(compiled, tmp_path / "compiled", every=1) as rec:
        for _ in range(2):
            loss = F.cross_entropy(compiled(x), y)
            opt.zero_grad()
            loss.backward()
            expected = the_talks_medians(model)
            rec.step(loss=loss, optimizer=opt)
            opt.step()
    r = reportgen.load_run(rec.run.path)
    assert r.params == [n for n, _ in model.named_parameters()] and not r.params[0].startswith("_orig_mod")
    assert r.grad[-1, :, MEDIAN].tolist() == expected


def test_ddp_records_on_rank_0_only_without_deadlock(tmp_path):
    mp.start_processes(ddp_worker, args=(tmp_path,), nprocs=2, join=True, start_method="spawn")
    assert json.loads((tmp_path / "rank0.json").read_text()) == {"active": True, "run": True}
    assert json.loads((tmp_path / "rank1.json").read_text()) == {"active": False, "run": False}
    (run_dir,) = (tmp_path / "runs" / "ddp").glob("*/")
    ddp = reportgen.load_run(run_dir)
    model, (x, y) = mlp(), batch()  # one process, the whole batch: the gradients DDP averaged
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with reportgen.Recorder(model, tmp_path / "single", every=1) as rec:
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            rec.step(loss=0.0, optimizer=opt)
            opt.step()
    single = reportgen.load_run(rec.run.path)
    assert ddp.params == single.params and not ddp.params[0].startswith("module.")
    np.testing.assert_allclose(ddp.grad, single.grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ddp.metrics["grad_norm"], single.metrics["grad_norm"], rtol=1e-5)


# ---------------------------------------------------------------- status, replacing, load_run


def test_an_error_in_the_with_block_marks_the_run_failed_and_keeps_what_was_recorded(tmp_path):
    model, (x, y) = mlp(), batch()
    with pytest.raises(RuntimeError, match="out of memory"):
        with reportgen.Recorder(model, tmp_path / "crash", every=1) as rec:
            F.cross_entropy(model(x), y).backward()
            rec.step(loss=1.0)
            raise RuntimeError("out of memory, say")
    status = rec.run.status
    assert status["state"] == "failed" and status["message"] == "RuntimeError: out of memory, say"
    assert "out of memory" in (rec.run.path / "error.txt").read_text()
    assert rec.run.epochs()["step"].tolist() == [1]


def test_a_nan_loss_marks_the_run_diverged_at_its_step(tmp_path):
    model, (x, y) = mlp(), batch()
    with reportgen.Recorder(model, tmp_path / "nan", every=1) as rec:
        for i in range(1, 4):
            model.zero_grad()
            F.cross_entropy(model(x), y).backward()
            rec.step(loss=math.nan if i == 2 else 1.0)
    status = rec.run.status
    assert status["state"] == "diverged" and status["step"] == 2 and "step 2" in status["message"]


def test_recording_again_replaces_the_run_and_another_config_makes_a_new_one(tmp_path):
    def record(config, loss):
        model, (x, y) = mlp(), batch()
        F.cross_entropy(model(x), y).backward()
        with reportgen.Recorder(model, tmp_path / "runs" / "again", config, every=1) as rec:
            rec.step(loss=loss)
        return rec.run

    first, second = record({"lr": 0.1}, 1.0), record({"lr": 0.1}, 2.0)
    assert first.path == second.path and second.epochs()["loss"].tolist() == [2.0]
    third = record({"lr": 0.2, "model": {"type": "resnet18"}}, 3.0)  # "type" in a user's config is data
    assert third.path != first.path and len(list((tmp_path / "runs" / "again").glob("*/"))) == 2
    newest = reportgen.load_run(tmp_path / "runs" / "again")
    assert newest.path == third.path and newest.config == {"lr": 0.2, "model": {"type": "resnet18"}}
    assert newest.kind == "recorded" and newest.name == "again" and newest.metrics["loss"].tolist() == [3.0]


def test_a_loop_shorter_than_every_has_no_gradients_and_the_figure_is_skipped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, (x, y) = mlp(), batch()
    with reportgen.Recorder(model, "runs/short", every=10) as rec:
        for _ in range(3):
            model.zero_grad()
            F.cross_entropy(model(x), y).backward()
            rec.step(loss=1.0)
    assert rec.run.has("metrics") and not rec.run.has("gradients")
    report = pipeline.build()
    assert report.rendered == [] and report.skipped == [f"gradient_diagram: run {rec.run.id} did not record gradients"]


def test_bad_arguments_say_what_is_allowed(tmp_path):
    with pytest.raises(ValueError, match="every = 0: allowed: a number of steps >= 1"):
        reportgen.Recorder(mlp(), tmp_path / "x", every=0)
    with pytest.raises(ValueError, match="Recorded.name = 'My Run'"):
        reportgen.Recorder(mlp(), tmp_path / "My Run")


# ---------------------------------------------------------------- the example, the site, the command line


def test_the_example_records_a_run_that_the_site_shows_beside_declared_ones(project):
    main = runpy.run_path(str(EXAMPLE))["main"]
    run = main(runs="runs", epochs=2, n=128, depth=4, width=8)
    r = reportgen.load_run("runs/plain-loop")
    assert r.path == run.path and r.status["state"] == "complete" and r.config["epochs"] == 2
    assert r.metrics["epoch_end"].tolist() == [2, 4] and r.grad.shape == (4, 8, len(STATS))
    assert r.params[:2] == ["0.weight", "0.bias"] and len(r.trajectory) == 3
    assert r.trajectory[0].shape == (sum(p["numel"] for p in run.params),)
    assert np.isfinite(r.metrics["epoch_val_loss"]).all()
    report = pipeline.build(clean=True)
    assert sorted(report.ran) == ["tiny-a", "tiny-b"] and "plain-loop/gradient_diagram" in report.rendered
    assert run.status["state"] == "complete"  # --clean redoes declared runs, never a recorded one
    index = (project / "site" / "index.html").read_text()
    assert 'href="plain-loop/index.html"' in index and "A plain PyTorch loop, recorded" in index
    page = (project / "site" / "plain-loop" / "index.html").read_text()
    assert "config.depth" in page and "reportgen.Recorder" in page and "The script" not in page
    assert "val loss" in page
    listed = CliRunner().invoke(cli.main, ["list"]).output
    assert "plain-loop" in listed and "recorded" in listed and "tiny-a" in listed


def test_a_project_of_recorded_runs_only_builds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception, match="experiments: no such experiment script or folder, and no recorded runs"):
        pipeline.build()
    model, (x, y) = mlp(), batch()
    with reportgen.Recorder(model, "runs/only", every=1) as rec:
        F.cross_entropy(model(x), y).backward()
        rec.step(loss=1.0)
    assert pipeline.build().rendered == ["only/gradient_diagram"]
    result = CliRunner().invoke(cli.main, ["render", "--format", "png"])
    assert result.exit_code == 0 and (tmp_path / "renders" / "only" / "gradient_diagram.png").exists()
