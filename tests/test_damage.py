"""A finished run with any one of its files deleted or cut short: the commands name the file in one line
(and what to do), or compute it again where it is only a cache. Never a traceback, never a finished run
reset to epoch 0 or marked failed because of a damaged cache."""
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import main
from reportgen.store.io import read_npz
from tests.crash import SCRIPTS, same

pytestmark = pytest.mark.usefixtures("one_thread")
FIGURES = '("gradient_diagram", "weight_spectrum", "trajectory_map", "loss_line")'


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A project whose run (clipping "auto", snapshots, a landscape: every kind of file) is finished."""
    folder = tmp_path_factory.mktemp("damage")
    (folder / "experiments").mkdir()
    (folder / "experiments" / "crash.py").write_text(SCRIPTS["run"].replace('("lr_schedule",)', FIGURES))
    result = CliRunner().invoke(main, ["run", "--runs", str(folder / "runs"), str(folder / "experiments")])
    assert result.exit_code == 0, result.output
    run, = (p.parent for p in (folder / "runs" / "crash").glob("*/config.json"))
    return folder, run.relative_to(folder)


def names(folder: Path, run: Path) -> list[str]:
    return sorted(str(p.relative_to(folder / run)) for p in (folder / run).rglob("*") if p.is_file())


def damaged(finished, tmp_path, monkeypatch, name: str, how: str) -> Path:
    source, run = finished
    shutil.copytree(source, tmp_path / "p")
    monkeypatch.chdir(tmp_path / "p")
    path = run / name
    if how == "deleted":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    return run


def every_file():
    """(file, deleted | truncated) for every file a finished run holds, known before the fixture runs."""
    return [(name, how) for name in ("config.json", "env.json", "status.json", "params.json", "epochs/000001.npz",
                                     "epochs/000002.npz", "trajectory/000000000.npy", "trajectory/000000001.npy", "trajectory/000000002.npy",
                                     "trajectory/000000004.npy", "checkpoints/last.pt", "landscape.npz",
                                     "landscape/directions.npz", "landscape/line-4.npz", "landscape/test-4.npz",
                                     "landscape/plane-4.npz", "landscape/pca-plane.npz")
            for how in ("deleted", "truncated")]


def read_by_figures(name: str, how: str) -> bool:
    """Damage that the figures cannot draw around, and so must name (a missing snapshot only thins the
    trajectory; caches, the checkpoint, env and config are not read to draw; a deleted status is written
    again by `run`, from the checkpoint)."""
    return name in ("params.json", "landscape.npz") or (name == "status.json" and how == "truncated") or name.startswith("epochs/") \
        or (name.startswith("trajectory/") and how == "truncated")


def test_the_list_is_every_file_of_the_run(finished):
    assert sorted({name for name, _ in every_file()}) == names(*finished)


@pytest.mark.parametrize("name, how", every_file(), ids=[f"{n} {h}" for n, h in every_file()])
def test_a_damaged_file_is_named_in_one_line_and_nothing_is_reset(finished, tmp_path, monkeypatch, name, how):
    run = damaged(finished, tmp_path, monkeypatch, name, how)
    status = (run / "status.json").read_bytes() if name != "status.json" else None
    for args in (["run"], ["render", "--format", "png"]):
        result = CliRunner().invoke(main, args)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert "Traceback" not in result.output and result.exit_code in (0, 1), (args, result.output)
        assert result.exit_code == 0 or (len(errors) == 1 and Path(name).name in errors[0]), (args, result.stderr)
        if args[0] == "render" and read_by_figures(name, how):
            assert result.exit_code == 1, (args, result.output)
        if status is not None:  # a finished run stays as it was: not resumed, not reset, not marked failed
            assert (run / "status.json").read_bytes() == status, args


@pytest.mark.parametrize("cache", ["landscape/line-4.npz", "landscape/test-4.npz", "landscape/plane-4.npz",
                                   "landscape/pca-plane.npz"])
def test_a_damaged_cache_of_a_run_killed_in_its_landscape_is_computed_again(finished, tmp_path, monkeypatch, cache):
    run = damaged(finished, tmp_path, monkeypatch, cache, "truncated")
    whole = read_npz(run / "landscape.npz")
    (run / "landscape.npz").unlink()
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "state": "running"}))
    result = CliRunner().invoke(main, ["run"])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "status.json").read_text())["state"] == "complete"
    again = read_npz(run / "landscape.npz")
    assert same(again, whole)
