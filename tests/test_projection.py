"""A run's landscape: computed after training, stored, resumable, equal to direct evaluations; its figures."""
import re
import shutil

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reportgen.compute import data, directions, execute as project, landscape, models
from reportgen.declare import Adam, CNN, Experiment, Landscape, MLP, Record, SpecError, Synthetic, config
from reportgen.draw import figures
from reportgen.draw.style import Style
from reportgen.store.entries import Entry, needs_run
from reportgen.store.io import RunError, read_npy, read_npz
from reportgen.store.rundir import Run
from reportgen.draw.figures.trajectory_map import axis_labels

pytestmark = pytest.mark.usefixtures("one_thread")

SAMPLES = 48
EXP = Experiment(name="lands", model=MLP(depth=3, width=16),
                 data=Synthetic(n_train=96, n_test=48, shape=(1, 6, 6), classes=4), optimizer=Adam(lr=3e-3),
                 epochs=3, batch_size=32, record=Record(snapshots=3),
                 landscape=Landscape(line=7, plane=5, span=0.8, samples=SAMPLES))


def execute(exp, folder) -> Run:
    entry = Entry(exp, folder / "x.py", Run(folder / exp.name / config.run_id(exp)))
    assert project.execute(entry) == "complete"
    return entry.run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield execute(EXP, tmp_path_factory.mktemp("runs"))
    torch.set_num_threads(threads)


def model_at(run: Run, exp, flat=None) -> tuple[nn.Module, data.Tensors]:
    """The run's model with its final checkpoint (or the flat parameters given), in eval mode."""
    ds = data.load(exp.data)
    model = models.build(exp.model, tuple(ds.x_train.shape[1:]), len(ds.classes))
    model.load_state_dict(run.read_checkpoint()["model"])
    if flat is not None:
        torch.nn.utils.vector_to_parameters(torch.as_tensor(flat), model.parameters())
    return model.eval(), ds


def loss(model, x, y) -> float:
    with torch.no_grad():
        return F.cross_entropy(model(x), y).item()


def test_trajectory_ends_at_the_origin_and_explains_at_most_all(run):
    a = run.landscape()
    steps = [s for s, _ in run.snapshots()]
    assert list(a["step"]) == steps and a["pca"].shape == (len(steps), 2)
    for projection in ("pca", "random", "mds"):
        np.testing.assert_allclose(a[projection][-1], 0, atol=1e-9)
        assert np.abs(a[projection][0]).sum() > 0
    shares = [float(re.search(r"\(([\d.]+) %", label).group(1)) for label in axis_labels(a, "pca")]
    assert 0 < sum(shares) <= 100 and shares[0] >= shares[1]


def test_the_planes_centre_is_the_checkpoints_loss_on_the_same_samples(run):
    a = run.landscape()
    model, ds = model_at(run, EXP)
    train, test = (ds.x_train[:SAMPLES], ds.y_train[:SAMPLES]), (ds.x_test[:SAMPLES], ds.y_test[:SAMPLES])
    want = loss(model, *train)
    assert a["plane_loss"][-1][2, 2] == pytest.approx(want, rel=1e-5)
    assert a["line_loss"][-1][3] == pytest.approx(want, rel=1e-5)
    assert a["loss"][-1] == pytest.approx(want, rel=1e-5)
    assert a["line_test_loss"][-1][3] == pytest.approx(loss(model, *test), rel=1e-5)
    # around the initial weights too: the snapshot of step 0
    first = read_npy(run.snapshots()[0][1])
    assert a["plane_loss"][0][2, 2] == pytest.approx(loss(model_at(run, EXP, first)[0], *train), rel=1e-5)
    assert list(a["center_step"]) == [0, 3, 6, 9]  # every epoch's (3 steps each)


def test_grid_points_are_the_saved_directions_applied_to_the_weights(run):
    a = run.landscape()
    saved = read_npz(run.path / "landscape" / "directions.npz")
    model, ds = model_at(run, EXP)
    theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    for (name, p), d in zip(model.named_parameters(), directions.to_direction(model, saved["d1"])):
        if p.dim() > 1:  # filter-normalised at the final weights, row by row (Li et al. 2018)
            torch.testing.assert_close(d.norm(dim=1), p.detach().norm(dim=1), rtol=1e-5, atol=0)
        else:
            assert torch.count_nonzero(d) == 0, name
    train = ds.x_train[:SAMPLES], ds.y_train[:SAMPLES]
    # plane rows are b, columns a: the corner (a, b) = (-span, +span) is row -1, column 0
    corner = theta - 0.8 * torch.as_tensor(saved["d1"]) + 0.8 * torch.as_tensor(saved["d2"])
    assert a["plane_loss"][-1][-1, 0] == pytest.approx(loss(model_at(run, EXP, corner)[0], *train), rel=1e-5)
    pca = theta + a["pca_a"][1] * torch.as_tensor(saved["pca"][0]) + a["pca_b"][3] * torch.as_tensor(saved["pca"][1])
    assert a["pca_plane_loss"][3, 1] == pytest.approx(loss(model_at(run, EXP, pca)[0], *train), rel=1e-5)
    # the PCA plane spans the whole path
    assert a["pca_a"][0] < a["pca"][:, 0].min() and a["pca_a"][-1] > a["pca"][:, 0].max()
    assert a["pca_b"][0] < a["pca"][:, 1].min() and a["pca_b"][-1] > a["pca"][:, 1].max()


def test_a_run_killed_while_computing_its_landscape_resumes_to_the_same_arrays(run, tmp_path, monkeypatch):
    calls, real = [0], landscape._Evaluator.__call__

    def counted(self, coeffs):
        calls[0] += 1
        if calls[0] == stop:
            raise KeyboardInterrupt("killed")  # not an Exception: as a real kill, nothing marks the run failed
        return real(self, coeffs)

    monkeypatch.setattr(landscape._Evaluator, "__call__", counted)
    stop = 0
    whole = execute(EXP, tmp_path / "whole")
    total, calls[0], stop = calls[0], 0, calls[0] // 2 + 1
    entry = Entry(EXP, tmp_path / "x.py", Run(tmp_path / "kill" / EXP.name / config.run_id(EXP)))
    with pytest.raises(KeyboardInterrupt):
        project.execute(entry)
    assert entry.run.status["state"] == "running" and not entry.run.has("landscape")
    assert needs_run(entry)
    calls[0], stop = 0, 0
    assert project.execute(entry) == "complete"
    assert calls[0] == total - total // 2  # only the chunks not saved before the kill
    got, want = entry.run.landscape(), whole.landscape()
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    np.testing.assert_array_equal(want["plane_loss"], run.landscape()["plane_loss"])


FRAMES = {"trajectory_map": ({}, "step"), "loss_line": ({}, "center_step"), "loss_plane": ({}, "center_step"),
          "trajectory_map-random": ({"projection": "random", "contours": False}, "step"),
          "loss_plane-pca": ({"plane": "pca"}, "step")}


@pytest.mark.parametrize("label", FRAMES)
def test_figures_decode_with_a_frame_per_snapshot_or_centre(run, label, tmp_path):
    options, per = FRAMES[label]
    name = label.split("-")[0]
    written = figures.render(run, name, tmp_path / name, Style(fps=30), ("gif", "png"), jobs=1, **options)
    frames = iio.imread(written["gif"], index=None)
    assert len(frames) == len(run.landscape()[per])
    assert (frames[0] != frames[-1]).any()
    still = iio.imread(written["png"]).astype(int)  # the last frame (the GIF's up to its palette)
    assert np.abs(still - frames[-1][..., :3]).mean() < np.abs(still - frames[0][..., :3]).mean() / 2


def test_figures_say_what_the_run_did_not_compute(run, tmp_path):
    copy = Run(tmp_path / "copy")
    shutil.copytree(run.path, copy.path)
    copy.write_landscape(**{k: v for k, v in run.landscape().items() if not k.startswith(("line", "pca"))})
    for name, missing in (("loss_line", "line_loss"), ("trajectory_map", "pca")):
        with pytest.raises(figures.Skipped, match=f"{name}: run copy computed no {missing}"):
            figures.render(copy, name, tmp_path / name, Style(), ("png",), jobs=1)
    (copy.path / "landscape.npz").unlink()  # declared and complete, yet gone: damage, named, not a skip
    with pytest.raises(RunError, match="landscape.npz: missing, though the run declares a landscape"):
        figures.render(copy, "loss_plane", tmp_path / "p", Style(), ("png",), jobs=1)


BN = Experiment(name="bn", model=CNN(channels=(4,), width=8, batchnorm=True),
                data=Synthetic(n_train=64, n_test=32, shape=(1, 6, 6), classes=3), optimizer=Adam(lr=1e-2),
                epochs=2, batch_size=16, record=Record(snapshots=2),
                landscape=Landscape(line=3, plane=3, samples=32, around="ends", pca_plane=False))


@pytest.mark.parametrize("recompute", [False, True])
def test_batch_norm_statistics_stored_reestimated_or_recomputed(recompute, tmp_path):
    exp = config.override(BN, f"landscape.recompute_bn={recompute}")
    run = execute(exp, tmp_path)
    a = run.landscape()
    model, ds = model_at(run, exp)
    x, y = ds.x_train[:32], ds.y_train[:32]
    first = model_at(run, exp, read_npy(run.snapshots()[0][1]))[0]
    if recompute:  # normalised with the 32 samples' own statistics at every point
        final_want, first_want = (loss(m.train(), x, y) for m in (model, first))
    else:  # final: the checkpoint's running statistics; initial: re-estimated as the mean of the training batches'
        final_want = loss(model, x, y)
        inputs = ds.x_train.split(exp.batch_size)
        conv = first[0]
        means = torch.stack([conv(b).mean((0, 2, 3)) for b in inputs]).detach()
        variances = torch.stack([conv(b).var((0, 2, 3)) for b in inputs]).detach()
        first[1].running_mean, first[1].running_var = means.mean(0), variances.mean(0)
        first_want = loss(first, x, y)
    assert a["plane_loss"][-1][1, 1] == pytest.approx(final_want, rel=1e-5)
    assert a["plane_loss"][0][1, 1] == pytest.approx(first_want, rel=1e-5)
    assert "pca" in a and "pca_plane_loss" not in a


def test_landscape_declarations_are_checked():
    for bad, words in (("directions='pca'", "Landscape.directions = 'pca': allowed: filter, layer or none"),
                       ("plane=2", "Landscape.plane = 2: allowed: 0 (none) or an integer from 3 to 1001"),
                       ("around='middle'", "allowed: final, ends or epochs"), ("span=0", "a number > 0")):
        with pytest.raises(SpecError, match=re.escape(words)):
            config.override(EXP, f"landscape.{bad}")
    assert config.from_dict(config.to_dict(EXP)) == EXP
    assert config.run_id(EXP) != config.run_id(config.override(EXP, "landscape.seed=1"))
