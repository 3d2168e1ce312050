"""Shared fixtures: a tiny experiment folder that trains in about a second."""
import shutil
import textwrap

import pytest

TINY = """
from reportgen.declare import *
EXPERIMENT = Experiment(
    name={name!r}, title={title!r}, description="A tiny run for the tests.", tags=("test",),
    model=MLP(depth=5, width=16), data=Synthetic(n_train=128, n_test=32, shape=(1, 8, 8), classes=4),
    optimizer=Adam(lr=(1e-3, 1e-4)), epochs={epochs}, batch_size=32, record=Record(every=1, snapshots=2),
    figures=("gradient_diagram",),
)
"""


def write_experiments(folder):
    """experiments/ with the two tiny scripts under `folder`."""
    (folder / "experiments").mkdir(parents=True)
    for name, title, epochs in (("tiny-a", "<script>alert(1)</script>", 3), ("tiny-b", "Tiny B", 2)):
        (folder / "experiments" / f"{name}.py").write_text(textwrap.dedent(TINY.format(name=name, title=title, epochs=epochs)))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A folder with experiments/ holding two tiny scripts; the working directory for the test."""
    folder = tmp_path / "proj"
    write_experiments(folder)
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture(scope="session")
def built_once(tmp_path_factory):
    """The `project` experiments run and built into site/ once per session. Read only: use `built` to change it."""
    from reportgen import pipeline
    folder = tmp_path_factory.mktemp("built")
    write_experiments(folder)
    pipeline.build((folder / "experiments",), folder / "runs", folder / "site", templates=None)
    return folder


@pytest.fixture
def built(project, built_once):
    """The `project` folder with its runs and site already built (a copy of `built_once`: nothing to redo)."""
    for name in ("runs", "site"):
        shutil.copytree(built_once / name, project / name)
    return project


@pytest.fixture
def one_thread():
    """Torch on one thread for the test: tiny models run many times faster on a busy machine."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
