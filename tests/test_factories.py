"""Your own model and dataset by import path: trained, recorded, swept and landscaped like the built-in ones; the
factory's file is part of the run id."""
import textwrap

import pytest
import torch

from reportgen.compute import data, models
from reportgen.compute.execute import execute
from reportgen.declare import Dataset, Experiment, Landscape, Module, Record, Sweep, config
from reportgen.store.entries import Entry, members
from reportgen.store.rundir import Run

pytestmark = pytest.mark.usefixtures("one_thread")
MINE = """
import torch
from torch import nn
from torch.utils.data import TensorDataset

def net(shape, classes, width=8):
    return nn.Sequential(nn.Flatten(), nn.Linear(shape[0], width), nn.Tanh(), nn.Linear(width, classes))

def blobs(n=64):
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (2 * n,), generator=g)
    x = torch.randn(2 * n, 5, generator=g) + 2 * nn.functional.one_hot(y, 5)
    return TensorDataset(x[:n], y[:n]), TensorDataset(x[n:], y[n:])
"""


@pytest.fixture
def mine(tmp_path, monkeypatch):
    """A project folder (the working directory) holding mine.py with a model and a dataset factory."""
    (tmp_path / "mine.py").write_text(textwrap.dedent(MINE))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "mine.py"


def experiment(**kw):
    return Experiment(name="own", model=Module(factory="mine:net", options={"width": 6}), data=Dataset(factory="mine:blobs"),
                      epochs=2, batch_size=16, record=Record(every=1, snapshots=2), **kw)


def test_own_model_and_data_train_record_and_make_landscapes(mine, tmp_path):
    exp = experiment(landscape=Landscape(line=5, plane=3, samples=16, around="final"))
    ds = data.load(exp.data)
    assert ds.x_train.shape == (64, 5) and ds.x_train.dtype == torch.float32 and ds.classes == ("0", "1", "2")
    torch.manual_seed(0)
    net = models.build(exp.model, (5,), 3)
    assert net[1].out_features == 6   # the options reached the factory
    run = Run(tmp_path / "runs" / "own")
    assert execute(Entry(exp, mine, run)) == "complete"
    assert [p["name"] for p in run.params] == ["1.weight", "1.bias", "3.weight", "3.bias"]
    assert run.epochs()["grad"].shape[1] == 4 and run.landscape()["line_loss"].shape == (1, 5)


def test_editing_the_factorys_file_makes_a_new_run_and_options_are_overridable(mine):
    exp = experiment()
    before = config.run_id(exp)
    assert config.run_id(config.override(exp, "title='words'")) == before
    wider = config.override(exp, "model.options.width=32")
    assert wider.model.options == {"width": 32} and config.run_id(wider) != before
    mine.write_text(mine.read_text() + "\n# an edit\n")
    assert config.run_id(exp) != before
    assert config.from_dict(config.to_dict(exp)) == exp


def test_a_sweep_over_the_factorys_options(mine, tmp_path):
    sweep = Sweep(name="widths", base=experiment(), grid={"model.options.width": (4, 16)})
    entry = Entry(sweep, mine, Run(tmp_path / "runs" / "widths"))
    assert [m.name for m in members(entry)] == ["widths.width4", "widths.width16"]
    assert [execute(m) for m in members(entry)] == ["complete", "complete"]  # here, not in worker processes
    assert [m.experiment.model.options["width"] for m in members(entry)] == [4, 16]
