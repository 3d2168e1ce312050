"""Runs compared on shared axes: a Compare of named experiments, one PCA plane fitted to all their snapshots with
its loss surface, and the comparison figures' frames, each checked against a plain computation from the files."""
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reportgen import pipeline
from reportgen.check import verdicts
from reportgen.compute import data, models, trajectory
from reportgen.compute.execute import execute
from reportgen.declare import Compare, Experiment, MLP, Record, Synthetic, Sweep
from reportgen.draw import figures, labels
from reportgen.draw.figures.compare_gradients import CompareGradients
from reportgen.draw.figures.compare_loss import CompareLoss
from reportgen.draw.figures.compare_trajectory import CompareTrajectory
from reportgen.draw.figures.gradient_diagram import MEDIAN, by_frame
from reportgen.draw.style import Style
from reportgen.store.entries import members
from reportgen.store.io import read_npy

MEMBER = """
from reportgen.declare import *
EXPERIMENT = Experiment(name={name!r}, model=MLP(depth=3, width=16), optimizer={optimizer},
                        data=Synthetic(n_train=128, n_test=32, shape=(1, 4, 4), classes=3), epochs=3, batch_size=32,
                        record=Record(every=1, snapshots=2), claims=(DoesNotLearn(),))
"""
COMPARE = """
from reportgen.declare import *
EXPERIMENT = Compare(name="both", title="SGD against Adam", plane=7, samples=64,
                     experiments=(experiment("sgd"), experiment("adam")),
                     claims=(Runs(where={"experiment": "adam"}, claims=(Learns(below=0.99, chance=1.01),)),))
"""


def test_the_joint_pca_is_the_pca_of_every_run_s_snapshots_pooled(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((9, 50)) + np.linspace(0, 3, 9)[:, None] * rng.standard_normal(50)).astype(np.float32)
    paths = []
    for i, row in enumerate(x):
        np.save(tmp_path / f"{i}.npy", row)
        paths.append(tmp_path / f"{i}.npy")
    projection, mean = trajectory.joint_pca(paths, budget=8 * 9 * 7)  # blocks of 7 columns
    centred = x.astype(np.float64) - x.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(0), atol=1e-5)
    np.testing.assert_allclose(projection.explained, s[:2] ** 2 / (s ** 2).sum(), rtol=1e-6)
    for k in range(2):
        sign = np.sign(projection.directions[k] @ vt[k])
        np.testing.assert_allclose(projection.directions[k], sign * vt[k], atol=1e-5)
        np.testing.assert_allclose(projection.coords[:, k], centred @ (sign * vt[k]), atol=1e-4)
    assert (projection.coords[0] >= 0).all()  # the first snapshot on the positive side: a fixed orientation


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """A Compare of two scripts' experiments (SGD, Adam), trained: (entry, its member entries)."""
    folder = tmp_path_factory.mktemp("compare")
    (folder / "experiments").mkdir()
    for name, optimizer in (("sgd", "SGD(lr=0.05)"), ("adam", "Adam(lr=1e-2)")):
        (folder / "experiments" / f"{name}.py").write_text(MEMBER.format(name=name, optimizer=optimizer))
    (folder / "experiments" / "both.py").write_text(COMPARE)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    [entry] = pipeline.gather((folder / "experiments" / "both.py",), folder / "runs")
    assert execute(entry) == "complete"
    torch.set_num_threads(threads)
    return entry, members(entry)


def test_a_compare_trains_each_named_experiment_as_a_run_of_its_own_without_its_claims(compared):
    entry, runs = compared
    assert [m.name for m in runs] == ["both.sgd", "both.adam"]
    assert all(m.run.path.parent == entry.run.path / "members" and m.run.status["state"] == "complete" for m in runs)
    assert [m.experiment.claims for m in runs] == [(), ()]
    assert [type(m.experiment.optimizer).__name__ for m in runs] == ["SGD", "Adam"]
    [verdict] = verdicts(entry)
    assert verdict.held and verdict.line().startswith("✓ experiment adam: learns: training loss")


def test_every_snapshot_sits_where_the_joint_plane_puts_it_and_the_surface_is_the_plain_loss(compared):
    entry, runs = compared
    a = entry.run.compare()
    pooled = [(k, s, p) for k, m in enumerate(runs) for s, p in m.run.trajectory()]
    assert [(k, s) for k, s, _ in pooled] == list(zip(a["owner"], a["step"]))
    weights = np.stack([read_npy(p) for _, _, p in pooled]).astype(np.float64)
    mean = weights.mean(0)
    _, _, vt = np.linalg.svd(weights - mean, full_matrices=False)
    signs = np.sign(np.sum(a["coords"] * ((weights - mean) @ vt[:2].T), 0))
    np.testing.assert_allclose(a["coords"], signs * ((weights - mean) @ vt[:2].T), atol=1e-4)

    exp = runs[0].experiment
    ds = data.load(exp.data)
    model = models.build(exp.model, tuple(ds.x_train.shape[1:]), len(ds.classes), ds.vocab)
    x, y = ds.x_train[:64], ds.y_train[:64]

    def loss_at(flat):
        torch.nn.utils.vector_to_parameters(torch.as_tensor(flat, dtype=torch.float32), model.parameters())
        with torch.no_grad():
            return F.cross_entropy(model.eval()(x), y).item()

    for t in (0, 3, len(pooled) - 1):
        assert a["loss"][t] == pytest.approx(loss_at(weights[t]), rel=1e-5)
    d = signs[:, None] * vt[:2]
    assert a["plane_loss"].shape == (7, 7)
    for i, j in ((0, 0), (3, 5), (6, 2)):
        point = mean + a["plane_a"][j] * d[0] + a["plane_b"][i] * d[1]
        assert a["plane_loss"][i, j] == pytest.approx(loss_at(point), rel=1e-4)
    assert a["plane_a"][0] < a["coords"][:, 0].min() and a["plane_a"][-1] > a["coords"][:, 0].max()


def test_the_comparison_figures_step_every_run_on_one_clock(compared):
    entry, runs = compared
    grads = CompareGradients(str(entry.run.path), Style())
    losses = CompareLoss(str(entry.run.path), Style())
    paths = CompareTrajectory(str(entry.run.path), Style())
    assert grads.n_frames == losses.n_frames == 3
    a = entry.run.compare()
    for i in range(3):
        grads.update(i)
        losses.update(i)
        for (d, _, weights, _, line, _, _, _), m in zip(grads.runs, runs):
            np.testing.assert_array_equal(line.get_ydata(), by_frame(m.run)["grad"][i][weights, MEDIAN])
        for series, m in zip(losses.series, runs):
            loss = m.run.epochs()["loss"]
            np.testing.assert_allclose(series[6].get_ydata(), loss.reshape(3, -1).mean(1)[:i + 1])
    for i in range(paths.n_frames):
        paths.update(i)
        for k, (_, _, path, _) in enumerate(paths.paths):
            shown = (a["owner"] == k) & (a["epoch"] <= paths.times[i])
            np.testing.assert_array_equal(np.column_stack(path.get_data()), a["coords"][shown])
    written = figures.render(entry.run, "compare_trajectory", entry.run.path / "out", Style(fps=20), ("gif",), jobs=1)
    assert labels.read(written["gif"]) == [f"epoch {t:.3g}" for t in np.unique(a["epoch"])]


def test_runs_with_different_weights_get_no_plane_and_the_figure_says_why(tmp_path, one_thread):
    base = Experiment(name="base", model=MLP(depth=2, width=8), epochs=1, batch_size=16,
                      data=Synthetic(n_train=32, n_test=16, shape=(1, 4, 4), classes=3), record=Record(snapshots=2))
    script = tmp_path / "depths.py"
    script.write_text(textwrap.dedent(f"""
        from reportgen.declare import *
        EXPERIMENT = Sweep(name="depths", base={base!r}, grid={{"model.depth": (2, 3)}})
        """))
    [entry] = pipeline.gather((script,), tmp_path / "runs")
    assert isinstance(entry.experiment, Sweep) and "compare_trajectory" in entry.experiment.figures
    execute(entry)
    assert "different numbers of weights" in str(entry.run.compare()["why"])
    with pytest.raises(figures.Skipped, match="compare_trajectory: .*: its runs have different numbers of weights"):
        figures.render(entry.run, "compare_trajectory", tmp_path / "out", Style())
    panels = CompareGradients(str(entry.run.path), Style(), layout="panels")
    assert sum(ax.get_visible() for ax in panels.fig.axes) == 2 and panels.n_frames == 1


def test_a_compare_needs_two_experiments_and_keeps_its_members_apart():
    one = Experiment(name="a")
    with pytest.raises(Exception, match="Compare.experiments = .*allowed: two or more Experiment"):
        Compare(name="c", experiments=(one,))
    c = Compare(name="c", experiments=(one, Experiment(name="b", epochs=2)))
    assert c.grid == {"experiment": ("a", "b")} and [m.name for m in c.members()] == ["c.a", "c.b"]


def test_set_reaches_into_a_compare_s_experiments_by_index_or_all_at_once():
    from reportgen.declare import SpecError, config
    c = Compare(name="c", experiments=(Experiment(name="a"), Experiment(name="b")))
    assert [e.seed for e in config.override(c, "experiments.*.seed=3").experiments] == [3, 3]
    assert [e.epochs for e in config.override(c, "experiments.1.epochs=3").experiments] == [10, 3]
    with pytest.raises(SpecError, match=r"--set experiments.2.seed: '2' is not an index of these 2 \(allowed: 0 to 1"):
        config.override(c, "experiments.2.seed=1")
