"""The command line through Click's test runner: each command, one-line errors, --debug."""
import csv
import io
import json

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

from reportgen.cli import main
from reportgen.store.rundir import STATS


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=True)


def test_every_command_has_help():
    for cmd in ("run", "render", "build", "list", "figures", "export", "serve", "publish"):
        result = invoke(cmd, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output, cmd


def test_render_offers_the_formats_that_have_an_encoder():
    from reportgen.draw.encode import ENCODERS
    shown = " ".join(invoke("render", "--help").output.split())
    assert f"Comma-separated: {', '.join(ENCODERS)}." in shown and "webp" not in shown


def test_run_list_export(project):
    assert invoke("run", "experiments/tiny-b.py").exit_code == 0
    listing = invoke("list").output
    assert "tiny-b" in listing and "complete" in listing and "tiny-a" in listing and "missing" in listing
    again = invoke("run", "experiments/tiny-b.py")
    assert "reusing complete run" in again.output
    result = invoke("export", "runs/tiny-b", "--what", "gradients", "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert list(rows[0]) == ["step", "parameter", *STATS]
    assert len(rows) == 8 * 10  # every step of 2 epochs x 4 steps, 5 weights + 5 biases
    assert {r["parameter"] for r in rows} >= {"1.weight", "1.bias", "9.weight"}
    metrics = json.loads(invoke("export", "runs/tiny-b", "--what", "metrics", "--format", "json").output)
    assert [m["step"] for m in metrics] == list(range(1, 9)) and set(metrics[0]) >= {"loss", "lr", "grad_norm"}


def test_export_per_epoch_aggregates_the_per_step_rows(project):
    """Per epoch and tensor: each statistic's median over the epoch's logged steps, and the spread of the
    per-step median across them, checked against numpy on the per-step export."""
    invoke("run", "experiments/tiny-b.py")
    steps = json.loads(invoke("export", "runs/tiny-b", "--what", "gradients", "--format", "json").output)
    epochs = json.loads(invoke("export", "runs/tiny-b", "--what", "gradients-per-epoch", "--format", "json").output)
    assert len(epochs) == 2 * 10 and list(epochs[0]) == ["epoch", "parameter", "steps", *STATS, "median_p25", "median_p75"]
    for row in epochs:
        first = 4 * (row["epoch"] - 1)   # 4 steps an epoch, numbered from 1
        mine = [r for r in steps if r["parameter"] == row["parameter"] and first < r["step"] <= first + 4]
        assert row["steps"] == len(mine) == 4
        for s in STATS:
            assert row[s] == pytest.approx(float(np.median([r[s] for r in mine])), rel=1e-6)
        low, high = np.percentile([r["median"] for r in mine], [25, 75])
        assert (row["median_p25"], row["median_p75"]) == pytest.approx((low, high), rel=1e-6)
        assert row["median_p25"] < row["median_p75"]


def test_figures_lists_every_figure_with_the_options_a_declaration_may_give():
    from reportgen.draw import figures
    lines = invoke("figures").output.splitlines()
    names = [line.split()[0] for line in lines if not line.startswith(" ")]
    assert names == sorted(figures.load_all()) and len(names) >= 16
    at = lines.index(next(line for line in lines if line.startswith("trajectory_map ")))
    assert lines[at + 1].split() == ["options:", "projection='pca'", "(one", "of", "'pca',", "'random',", "'mds'),",
                                     "contours=True", "(bool)"]


def test_render_writes_talk_files_without_touching_the_site(project):
    invoke("run", "experiments/tiny-b.py")
    result = invoke("render", "experiments/tiny-b.py", "--preset", "slide-16:9-720", "--format", "mp4,png")
    assert result.exit_code == 0, result.output
    assert (project / "renders" / "tiny-b" / "gradient_diagram.mp4").stat().st_size > 0
    assert not (project / "site").exists()
    result = invoke("render", "experiments/tiny-b.py", "--figure", "gradient_diagram(per_step=True)", "--format", "gif")
    assert result.exit_code == 0, result.output
    assert len(iio.imread(project / "renders" / "tiny-b" / "gradient_diagram-per_step.gif", index=None)) == 8


def test_bad_input_ends_with_one_line_and_a_nonzero_exit(project):
    cases = [
        (["run", "--set", "model.depth=-3", "experiments/tiny-b.py"], "MLP.depth = -3"),
        (["run", "--set", "model.dpth=3", "experiments/tiny-b.py"], "no field 'dpth'"),
        (["run", "nowhere/"], "nowhere: no such experiment script or folder"),
        (["export", "runs/nothing"], "not a run directory"),
    ]
    for args, words in cases:
        result = invoke(*args)
        assert result.exit_code == 1, args
        assert result.output.strip().count("\n") == 0 and words in result.output, result.output
        assert "Traceback" not in result.output


def test_debug_shows_the_exception(project):
    result = invoke("--debug", "run", "--set", "model.depth=-3", "experiments/tiny-b.py")
    assert result.exit_code != 0 and "MLP.depth = -3" in str(result.exception)


def test_build_then_a_no_op_build(project):
    first = invoke("build")
    assert first.exit_code == 0, first.output
    assert "ran 2" in first.output and (project / "site" / "tiny-a" / "index.html").exists()
    second = invoke("build")
    assert "ran 0, rendered 0 figures, reused 2" in second.output
