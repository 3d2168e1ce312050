"""Shared fixtures: a tiny experiment folder that trains in about a second."""
import textwrap

import pytest

TINY = """
from reportgen.spec import *
EXPERIMENT = Experiment(
    name={name!r}, title={title!r}, description="A tiny run for the tests.", tags=("test",),
    model=MLP(depth=5, width=16), data=Synthetic(n_train=128, n_test=32, shape=(1, 8, 8), classes=4),
    optimizer=Adam(lr=(1e-3, 1e-4)), epochs={epochs}, batch_size=32, record=Record(every=1, snapshots=2),
)
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A folder with experiments/ holding two tiny scripts; the working directory for the test."""
    folder = tmp_path / "proj"
    (folder / "experiments").mkdir(parents=True)
    for name, title, epochs in (("tiny-a", "<script>alert(1)</script>", 3), ("tiny-b", "Tiny B", 2)):
        (folder / "experiments" / f"{name}.py").write_text(textwrap.dedent(TINY.format(name=name, title=title, epochs=epochs)))
    monkeypatch.chdir(folder)
    return folder
