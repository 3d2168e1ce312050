"""Example scripts are tests: every file in experiments/ loads, runs at a tiny size and draws its figures."""
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen import declare as spec
from reportgen.compute import execute as project
from reportgen.declare import (CityMDS, Compare, LayerCompression, NewtonField, OptimizerRace, SVDCompression, Sweep,
                               config)
from reportgen.declare.load import load
from reportgen.draw import figures
from reportgen.draw.style import Style
from reportgen.store.entries import Entry
from reportgen.store.rundir import Run

SCRIPTS = sorted((Path(__file__).resolve().parent.parent / "experiments").glob("[!_]*.py"))


def shrink(exp):
    """The same experiment at a size that runs in a second: one epoch of a few batches."""
    if isinstance(exp, spec.Experiment):
        exp = config.override(exp, "epochs=2")
        if isinstance(exp.data, spec.Synthetic):
            exp = config.override(exp, "data.n_train=64")
            exp = config.override(exp, "data.n_test=16")
        exp = config.override(exp, "batch_size=32")
        exp = config.override(exp, "record.every=1")  # its few steps all logged: every figure has something to draw
        for grid in ("line", "plane"):  # a few points a side: its figures need only the arrays' shapes
            if exp.landscape is not None and getattr(exp.landscape, grid):
                exp = config.override(exp, f"landscape.{grid}=5")
    for assignment in TINY_DEMOS.get(type(exp), ()):
        exp = config.override(exp, assignment)
    if isinstance(exp, LayerCompression):
        exp = dataclasses.replace(exp, experiment=shrink(exp.experiment))
    if isinstance(exp, Sweep):
        exp = dataclasses.replace(exp, base=shrink(exp.base), plane=5)
    if isinstance(exp, Compare):
        exp = dataclasses.replace(exp, experiments=tuple(map(shrink, exp.experiments)), plane=5)
    return exp


TINY_DEMOS = {  # few steps, so few frames: rendering is what takes the time
    SVDCompression: ("max_side=16",), OptimizerRace: ("steps=8",), CityMDS: ("budget=8",),
    NewtonField: ("steps=4", "particles=3"),
}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_experiment_script_runs_and_draws(script, tmp_path):
    for exp in load(script):
        exp = shrink(exp)
        entry = Entry(exp, script, Run(tmp_path / exp.name / config.run_id(exp)))
        assert project.execute(entry) in ("complete", "diverged")
        for figure in exp.figures:
            name, options = figures.parse(figure)
            written = figures.render(entry.run, name, tmp_path / "out" / exp.name / figures.stem(figure), Style(fps=20),
                                   jobs=1, **options)
            assert all(p.stat().st_size > 0 for p in written.values())


def test_loading_the_bundled_scripts_leaves_torch_unloaded_once_their_racers_are_known(tmp_path):
    """What keeps a no-op build of the gallery near a second: no declaration loads torch (~2 s); a race's
    optimizer options are checked by building the optimizer once, then remembered in the user's cache."""
    root = SCRIPTS[0].parent.parent
    code = ("import sys; from pathlib import Path; from reportgen import pipeline; "
            f"pipeline.gather((Path({str(root / 'experiments')!r}),), Path('runs')); print('torch' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(root), "XDG_CACHE_HOME": str(tmp_path)}
    loads = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
             for _ in range(2)]
    assert [done.stderr for done in loads] == ["", ""]
    assert [done.stdout.strip() for done in loads] == ["True", "False"]
