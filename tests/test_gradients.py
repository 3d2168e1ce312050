"""The talk's numbers at initialisation, tiny gradients kept to the figure, the multiplier search and its command."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from reportgen.compute import data, models
from reportgen.compute.calibrate import Calibration, calibrate, diagram
from reportgen.compute.steplog import StepLog as Recorder
from reportgen.declare import Experiment, LeakyReLU, MLP, Synthetic, Tanh, config
from reportgen.draw.figures import render as draw
from reportgen.draw.style import Style
from reportgen.store.rundir import Run
from reportgen.cli import main
from reportgen.draw.figures.gradient_diagram import MEDIAN, GradientDiagram, by_frame
from reportgen.draw.figures.gradient_heatmap import GradientHeatmap

LEAKY80 = MLP(depth=80, width=256, activation=LeakyReLU(negative_slope=0.01))
TANH116 = MLP(depth=116, width=256, activation=Tanh())


@pytest.fixture(scope="module")
def batch():
    ds = data.load(Synthetic(n_train=128, n_test=1))
    return ds.x_train, ds.y_train


def one_liner(model: torch.nn.Module) -> list[float]:
    """The talk's statistic, verbatim, for the weights (input to output)."""
    return [p.grad.view(-1)[p.grad.view(-1) != 0].abs().log10().median().item()
            for n, p in model.named_parameters() if n.endswith("weight")]


def init_diagram(model: MLP, batch) -> np.ndarray:
    x, y = batch
    torch.manual_seed(0)
    net = models.build(model, tuple(x.shape[1:]), 10)
    F.cross_entropy(net(x), y).backward()
    reference = np.array(one_liner(net))
    np.testing.assert_allclose(diagram(model, x, y, 10), reference, atol=1e-5)  # the search sees the talk's numbers
    return reference


@pytest.mark.parametrize("model, multiplier", [(LEAKY80, 2.37), (TANH116, 1.8)], ids=["leaky80", "tanh116"])
def test_the_talks_multiplier_flattens_tens_of_orders(model, multiplier, batch):
    plain = init_diagram(model, batch)
    assert 25 < plain[-1] - plain[0] < 35          # "80 layers lose about 30 orders of magnitude"
    assert 25 < Calibration.span(plain) < 35
    fixed = init_diagram(config.override(model, f"multiplier={multiplier}"), batch)
    assert abs(fixed[-1] - fixed[0]) < 2 and abs(Calibration.span(fixed)) < 2


@pytest.mark.parametrize("model, talk", [(LEAKY80, 2.37), (TANH116, 1.8)], ids=["leaky80", "tanh116"])
def test_calibrate_finds_the_talks_multiplier(model, talk, batch):
    found = calibrate(model)
    assert found.multiplier == pytest.approx(talk, rel=0.05)
    assert Calibration.span(found.before) > 25 and 0 <= Calibration.span(found.after) <= 0.5
    less = config.override(model, f"multiplier={found.multiplier / 1.01}")  # the smallest flat one
    assert Calibration.span(diagram(less, *batch, 10)) > 0.5


def test_calibrate_command_prints_and_plots(tmp_path):
    out = tmp_path / "cal.png"
    result = CliRunner().invoke(main, ["calibrate", "--depth", "24", "--width", "32", "--activation", "Tanh()",
                                       "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert "multiplier" in result.output and "orders of magnitude" in result.output
    import imageio.v3 as iio
    assert iio.imread(out).shape[:2] == (450, 800)
    bad = CliRunner().invoke(main, ["calibrate", "--activation", "Tanh"])
    assert bad.exit_code == 1 and bad.output.count("\n") == 1 and "MLP.activation" in bad.output


def test_gradients_near_1e35_reach_the_figures_unchanged(tmp_path, batch):
    """80 plain LeakyReLU layers at initialisation: the first layers' gradients are 1e-33 and below. They go
    through the Recorder into the run directory and out into both figures' data, as they are."""
    x, y = batch
    torch.manual_seed(0)
    model = models.build(LEAKY80, tuple(x.shape[1:]), 10)
    run = Run(tmp_path / "run")
    run.create(Experiment(name="tiny-gradients", model=LEAKY80))
    rec = Recorder(model, run, every=1)
    out = model(x)
    loss = F.cross_entropy(out, y)
    loss.backward()
    rec.step(1, loss, (out.argmax(1) == y).float().mean(), 1e-3)
    rec.epoch(1, test_loss=2.3, test_accuracy=0.1)
    run.set_status("complete", 1, 1)
    reference = np.array([p.grad.view(-1)[p.grad.view(-1) != 0].abs().log10().median().item()
                          for p in model.parameters()], np.float32)
    recorded = by_frame(run)["grad"][0]
    np.testing.assert_array_equal(recorded[:, MEDIAN], reference)
    assert recorded[:, MEDIAN].min() < -33 and np.nanmin(recorded[:, :5]) < -35   # q05 of the first layers
    diagram_fig = GradientDiagram(str(run.path), Style())
    assert diagram_fig.ax.get_ylim()[0] <= recorded[:, MEDIAN].min()            # on the axis, not cut off
    heat = GradientHeatmap(str(run.path), Style())
    mesh = heat.fig.axes[0].collections[0]
    weights = [i for i, p in enumerate(run.params) if len(p["shape"]) == 2]
    np.testing.assert_array_equal(np.ma.getdata(mesh.get_array()).ravel(), reference[weights])
    assert not np.ma.getmaskarray(mesh.get_array()).any() and mesh.norm.vmin <= reference.min()
    written = draw(run, "gradient_heatmap", tmp_path / "heat", Style(), ("png",), jobs=1)
    assert written["png"].stat().st_size > 0
