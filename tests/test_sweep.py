"""Sweeps: members made by overrides, trained side by side, a diverged run kept as a result, a page and a figure."""
import re
import textwrap

import imageio.v3 as iio
import numpy as np
import pytest

from reportgen import declare as spec, pipeline
from reportgen.declare import Experiment, LeakyReLU, MLP, Record, SGD, Sweep, Synthetic, Tanh, config
from reportgen.draw.style import Style
from reportgen.store import entries
from reportgen.draw.figures.gradient_diagram import by_frame
from reportgen.draw.figures.sweep_grid import SweepGrid

BASE = Experiment(name="base", model=MLP(depth=3, width=8), optimizer=SGD(lr=0.1, momentum=0.9), epochs=4,
                  data=Synthetic(n_train=64, n_test=16, shape=(1, 4, 4), classes=3), batch_size=16,
                  record=Record(every=1, snapshots=0))
SCRIPT = """
from reportgen.declare import *
EXPERIMENT = Sweep(
    name="lr-depth", title="lr x depth", base={base!r},
    grid={{"optimizer.lr": (0.01, 1000.0), "model.depth": (2, 3)}},
)
"""


def test_members_are_the_base_with_each_combination_set():
    sweep = Sweep(name="sw", base=BASE, grid={"optimizer.lr": (0.1, (0.1, 0.01)),
                                              "model.activation": (Tanh(), LeakyReLU(negative_slope=2))})
    members = sweep.members()
    assert [m.name for m in members] == ["sw.lr0.1_activationtanh", "sw.lr0.1_activationleakyrelu-negative-slope-2",
                                         "sw.lr-0.1-0.01_activationtanh",
                                         "sw.lr-0.1-0.01_activationleakyrelu-negative-slope-2"]
    assert members[3].title == "sw: lr (0.1, 0.01), activation LeakyReLU(negative_slope=2)"
    expected = config.override(config.override(BASE, "optimizer.lr=(0.1, 0.01)"),
                             "model.activation=LeakyReLU(negative_slope=2)")
    assert config.override(config.override(members[3], "name='base'"), "title=''") == expected
    assert len({config.run_id(m) for m in members}) == 4
    assert config.from_dict(config.to_dict(sweep)) == sweep


@pytest.mark.parametrize("grid, message", [
    ({"optimizer.lrr": (1,)}, "Sweep.grid['optimizer.lrr'] = 1: Adam has no field 'lrr'"),
    ({"model.depth": (0,)}, "Sweep.grid['model.depth'] = 0: MLP.depth = 0: allowed: an integer from 1 to 10000"),
    ({"model.depth": ()}, "Sweep.grid = {'model.depth': ()}: allowed: a dict of field paths to one or more values"),
    ({"optimizer.lr": (0.1, 0.1)}, "Sweep.grid = {'optimizer.lr': (0.1, 0.1)}: allowed: values that differ"),
])
def test_a_bad_grid_is_one_line_naming_field_and_value(grid, message):
    with pytest.raises(spec.SpecError) as e:
        Sweep(name="sw", base=Experiment(name="b"), grid=grid)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_a_grid_of_too_many_runs_is_refused_before_any_is_made():
    with pytest.raises(spec.SpecError, match="allowed: at most 10000 combinations of values"):
        Sweep(name="sw", base=Experiment(name="b"), grid={"seed": tuple(range(101)), "epochs": tuple(range(1, 101))})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A project with one sweep whose lr 1000 runs diverge, built into a site."""
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "experiments").mkdir()
    (folder / "experiments" / "lr-depth.py").write_text(textwrap.dedent(SCRIPT.format(base=BASE)))
    pipeline.build([folder / "experiments"], folder / "runs", folder / "site", Style(fps=20), templates=None, jobs=1)
    [entry] = pipeline.gather([folder / "experiments"], folder / "runs")
    return folder, entry


def test_a_diverged_run_stops_is_marked_and_the_sweep_goes_on(built):
    _, entry = built
    assert entry.run.status["state"] == "complete"
    members = {m.name: m for m in entries.members(entry)}
    for name, m in members.items():
        status = m.run.status
        if m.experiment.optimizer.lr == 1000.0:
            assert status["state"] == "diverged" and 0 < status["step"] < 16
            assert f"step {status['step']}" in status["message"]
            # figures up to that step: the frames end at the epoch it diverged in, the data before the step
            assert by_frame(m.run)["label"][-1] == -(-(status["step"] - 1) // 4)  # 4 steps an epoch
            assert by_frame(m.run, per_step=True)["step"].max() < status["step"]
        else:
            assert status["state"] == "complete" and status["step"] == 16
    a = entry.run.arrays()
    assert sorted(a["state"]) == ["complete", "complete", "diverged", "diverged"]
    assert list(a["names"]) == [m.run.path.name for m in entries.members(entry)]


def test_the_sweep_figure_crosses_out_diverged_cells(built):
    folder, entry = built
    a = entry.run.arrays()
    anim = SweepGrid(str(entry.run.path), Style())
    anim.update(anim.n_frames - 1)
    for (box, cross, text), state in zip(anim.cells, a["state"]):
        assert cross.get_visible() == (state == "diverged")
        assert ("diverged" in text.get_text()) == (state == "diverged")
    png = iio.imread(folder / "site" / "lr-depth" / "sweep_grid.png")[..., :3].astype(int)
    red = (np.abs(png - (0xc0, 0x39, 0x2b)).sum(-1) < 30).sum()
    assert red > 200  # the two crosses are drawn


def test_the_sweep_has_a_page_listing_its_runs_and_no_cards_for_them(built):
    folder, entry = built
    index = (folder / "site" / "index.html").read_text()
    assert index.count('class="card"') == 1 and "lr-depth/index.html" in index
    page = (folder / "site" / "lr-depth" / "index.html").read_text()
    for m in entries.members(entry):
        assert f'href="../{m.name}/index.html"' in page
        member = (folder / "site" / m.name / "index.html").read_text()
        assert 'href="../lr-depth/index.html"' in member  # back to its sweep
        assert (folder / "site" / m.name / "gradient_diagram.gif").stat().st_size > 0
    assert len(re.findall(r"status-diverged", page)) == 2


def test_a_sweep_over_optimizers_shows_short_labels_but_keeps_its_runs_folders():
    """Adam and SGD gained a short label ("SGD 1"): titles and figures use it, the runs' folders stay as they were."""
    sweep = Sweep(name="o", base=Experiment(name="b"), grid={"optimizer": (SGD(lr=1.0), spec.Adam(lr=3e-3))})
    members = sweep.members()
    assert [m.title for m in members] == ["o: optimizer SGD 1", "o: optimizer Adam 0.003"]
    assert [m.name for m in members] == ["o.optimizersgd-lr-1.0-momentum-0.0-nesterov-false-weight-decay-0.0",
                                         "o.optimizeradam-lr-0.003-betas-0.9-0.999-eps-1e-08-weight-decay-0.0"]
