"""The demos as experiments: declarations checked, runs that store what their figures draw, frames decoded."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import imageio.v3 as iio
from reportgen import cli
from reportgen import declare as spec
from reportgen.compute import data, demos, execute as project, mds, models, optim, race, svd
from reportgen.declare import (MLP, Adam, CityMDS, Experiment, LayerCompression, NewtonField, OptimizerRace, Racer,
                               SVDCompression, Synthetic, config)
from reportgen.declare.demos import MODES
from reportgen.draw import figures
from reportgen.draw.figures.svd_compression import SVDCompressionFigure as SVDFigure, default_ranks
from reportgen.draw.figures.weight_spectrum import spectra_by_snapshot
from reportgen.draw.style import Style
from reportgen.declare.load import load
from reportgen.pipeline import gather
from reportgen.store.entries import Entry
from reportgen.store.rundir import Run

STYLE = Style(fps=30)


def execute(exp, tmp_path) -> Run:
    entry = Entry(exp, tmp_path / "x.py", Run(tmp_path / "runs" / exp.name / config.run_id(exp)))
    assert project.execute(entry) == "complete"
    return entry.run


def frames(run: Run, name: str, tmp_path) -> np.ndarray:
    written = figures.render(run, name, tmp_path / name, STYLE, ("gif",), jobs=1)
    return iio.imread(written["gif"], index=None)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """Grace Hopper at 40×34 pixels, as a PNG file of its own."""
    path = tmp_path_factory.mktemp("img") / "grace.png"
    Image.open(svd.sample_image()).resize((34, 40), Image.LANCZOS).save(path)
    return path

# ---------------------------------------------------------------- declarations


BAD = [  # (script line, words the one-line error must hold)
    ("SVDCompression(name='s', mode='hsv')", ["SVDCompression.mode = 'hsv'", "gray, channels, stacked"]),
    ("SVDCompression(name='s', image='missing.png')", ["SVDCompression.image = 'missing.png'", "existing image"]),
    ("SVDCompression(name='s', image='notes.png')", ["SVDCompression.image = 'notes.png'", "not an image file"]),
    ("SVDCompression(name='Bad Name')", ["SVDCompression.name = 'Bad Name'", "lower-case"]),
    ("OptimizerRace(name='r', function='banana', racers={'a': Racer(optimizer='SGD', lr=0.1)})",
     ["OptimizerRace.function = 'banana'", "rosenbrock, beale, himmelblau"]),
    ("OptimizerRace(name='r', racers={})", ["OptimizerRace.racers = {}", "one or more"]),
    ("OptimizerRace(name='r', racers={'a': 'SGD'})", ["OptimizerRace.racers", "Racer(...)"]),
    ("Racer(optimizer='Adamax', lr=0.1)", ["Racer.optimizer = 'Adamax'", "SGD, Adagrad, RMSprop, Adam"]),
    ("Racer(optimizer='SGD', lr=-1.0)", ["Racer.lr = -1.0", "> 0"]),
    ("NewtonField(name='n', function='saddle')", ["NewtonField.function = 'saddle'", "himmelblau"]),
    ("NewtonField(name='n', damping=2.0)", ["NewtonField.damping = 2.0", "(0, 1]"]),
    ("CityMDS(name='m', cities=35)", ["CityMDS.cities = 35", "3 to 34"]),
    ("CityMDS(name='m', budget=1)", ["CityMDS.budget = 1", "from 2 to 1000000"]),
    ("LayerCompression(name='l', experiment=MLP())", ["LayerCompression.experiment", "Experiment(...)"]),
]


@pytest.mark.parametrize("line, words", BAD, ids=[b[0].split("(")[0] + str(i) for i, b in enumerate(BAD)])
def test_bad_declarations_get_one_line(tmp_path, monkeypatch, line, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.png").write_text("not a picture")
    script = tmp_path / "demo.py"
    script.write_text(f"from reportgen.declare import *\nEXPERIMENT = {line}\n")
    with pytest.raises(spec.SpecError) as e:
        load(script)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{script}:2:")
    for w in words:
        assert w in message


REFUSED = [  # racers whose optimizer class refuses their options: only building one can tell, when gathered
    ("Racer(optimizer='SGD', lr=0.1, options={'momentm': 0.9})", ["Racer.options", "SGD refuses", "momentm"]),
    ("Racer(optimizer='Adam', lr=0.1, options={'betas': (0.9, 2.0)})", ["Racer.options", "Adam refuses"]),
]


@pytest.mark.parametrize("racer, words", REFUSED)
def test_racers_their_optimizer_refuses_get_one_line_when_gathered(tmp_path, racer, words):
    script = tmp_path / "race.py"
    script.write_text(f"from reportgen.declare import *\nEXPERIMENT = OptimizerRace(name='r', racers={{'a': {racer}}})\n")
    with pytest.raises(spec.SpecError) as e:
        gather((script,), tmp_path / "runs")
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{script}: ")
    for w in words:
        assert w in message


def test_bad_image_from_the_command_line_is_one_line_and_exit_1(project):
    (project / "experiments" / "svd.py").write_text(
        "from reportgen.declare import SVDCompression\nEXPERIMENT = SVDCompression(name='svd', image='gone.jpg')\n")
    result = CliRunner().invoke(cli.main, ["run", "experiments/svd.py"])
    assert result.exit_code == 1
    assert result.output == "error: experiments/svd.py:2: SVDCompression.image = 'gone.jpg': allowed: an existing " \
                            "image file (PNG, JPEG, ...)\n"


def test_stored_configs_read_back_as_the_declarations(tmp_path):
    race_exp = OptimizerRace(name="r", steps=3, racers={
        "Adam": Racer(optimizer="Adam", lr=0.1, options={"betas": (0.8, 0.99)}),
        "Lion": Racer(optimizer="Lion", lr=0.01)})
    for exp in (race_exp, CityMDS(name="m", cities=4, budget=5), NewtonField(name="n", steps=2, arrows=3, particles=2)):
        assert execute(exp, tmp_path).config == exp

# ---------------------------------------------------------------- SVD compression


@pytest.mark.parametrize("mode", MODES)
def test_svd_run_stores_eckart_young_and_its_gif_ends_on_the_image(tmp_path, photo, mode):
    run = execute(SVDCompression(name="s", image=str(photo), mode=mode), tmp_path)
    a = run.arrays()
    image = svd.load_image(photo)
    c = svd.compress(image, mode=mode)
    np.testing.assert_allclose(a["errors"], c["errors"], atol=1e-12)  # test_demos checks these against Eckart-Young
    k = 40 if mode == "stacked" else 34  # 40 × 3·34 stacked, else 40 × 34
    assert a["errors"][-1] == 0 and a["s"].shape[-1] == k
    gif = frames(run, "svd_compression", tmp_path)
    anim = SVDFigure(str(run.path), STYLE)
    assert len(gif) == anim.n_frames == len(default_ranks(k)) and anim.c.ranks[-1] == k
    target = image @ svd.LUMA if mode == "gray" else image
    np.testing.assert_allclose(anim.c.reconstruct(k), target, atol=1e-5)  # float32 factors
    # the image panel of the last frame is the image: closer to it than the rank-1 frame is
    anim.fig.canvas.draw()
    x0, y0, x1, y1 = np.round(anim.image.get_window_extent().extents).astype(int)
    panel = (slice(gif.shape[1] - y1 + 2, gif.shape[1] - y0 - 2), slice(x0 + 2, x1 - 2))
    h, w = gif[0][panel].shape[:2]
    truth = np.asarray(Image.fromarray(np.uint8(np.round(255 * target))).resize((w, h), Image.NEAREST), float)
    truth = truth if truth.ndim == 3 else truth[..., None]
    last, first = (np.abs(gif[i][panel].astype(float) - truth).mean() for i in (-1, 0))
    assert last < 12 < first  # out of 255: the figure's 32 levels (±4) and pixel edges; rank 1 is ~30 away


def test_large_images_are_scaled_down_before_the_svd(tmp_path, photo):
    run = execute(SVDCompression(name="s", image=str(photo), max_side=20, mode="channels"), tmp_path)
    assert run.arrays()["u"].shape == (3, 20, 17)

# ---------------------------------------------------------------- weight spectra and layer compression


TRAIN = Experiment(name="t", model=MLP(depth=3, width=16), data=Synthetic(n_train=256, n_test=128, shape=(1, 8, 8),
                   classes=4, noise=0.3), optimizer=Adam(lr=3e-3), epochs=3, batch_size=32)


@pytest.fixture(scope="module")
def compressed(tmp_path_factory):
    return execute(LayerCompression(name="lc", experiment=TRAIN), tmp_path_factory.mktemp("lc"))


def test_weight_spectrum_reads_matrices_out_of_snapshots(compressed, tmp_path):
    steps, names, values = spectra_by_snapshot(compressed)
    final = torch.load(compressed.checkpoint, weights_only=False)["model"]
    assert names == [n for n, w in final.items() if w.ndim == 2] and steps[-1] == compressed.status["step"]
    for j, name in enumerate(names):
        expected = torch.linalg.svdvals(final[name].double()).numpy()
        np.testing.assert_allclose(values[-1, j, :len(expected)], expected, rtol=1e-5)
    assert len(frames(compressed, "weight_spectrum", tmp_path)) == len(steps)


def test_layer_compression_against_a_hand_truncated_network(compressed, tmp_path):
    a = compressed.arrays()
    assert list(a["names"]) == ["1.weight", "3.weight", "5.weight"] and a["accuracy"].shape == (3, 17)
    np.testing.assert_allclose(a["accuracy_all"][16], a["accuracy_full"])  # full rank is the trained network
    assert a["accuracy"][2, 4] == a["accuracy_full"]  # the last layer is 4×16: rank 4 is all of it
    assert np.isnan(a["accuracy"][2, 5:]).all() and not np.isnan(a["accuracy"][:2]).any()
    ds = data.load(TRAIN.data)
    model = models.build(TRAIN.model, (1, 8, 8), 4)
    model.load_state_dict(torch.load(compressed.checkpoint, weights_only=False)["model"])
    u, s, vt = np.linalg.svd(model[1].weight.detach().double().numpy())
    with torch.no_grad():
        model[1].weight.copy_(torch.from_numpy((u[:, :2] * s[:2]) @ vt[:2]))
        accuracy = (model(ds.x_test).argmax(1) == ds.y_test).float().mean().item()
    assert a["accuracy"][0, 2] == pytest.approx(accuracy)
    assert len(frames(compressed, "layer_compression", tmp_path)) == len(default_ranks(16, frames=40, head=12))

# ---------------------------------------------------------------- optimizer races and Newton fields


def test_race_run_is_torch_optim_with_the_declared_rates(tmp_path):
    exp = OptimizerRace(name="r", function="beale", steps=25, racers={
        "Nesterov": Racer(optimizer="SGD", lr=3e-3, options={"momentum": 0.9, "nesterov": True}),
        "Muon": Racer(optimizer="Muon", lr=0.03)})
    run = execute(exp, tmp_path)
    a = run.arrays()
    reference = race.race("beale", {"Nesterov": (torch.optim.SGD, {"lr": 3e-3, "momentum": 0.9, "nesterov": True}),
                                    "Muon": (optim.Muon, {"lr": 0.03})}, steps=25)
    assert list(a["labels"]) == ["Nesterov", "Muon"]
    np.testing.assert_array_equal(a["paths"], np.stack([t.path for t in reference.values()]))
    assert a["minimum"] == 0 and a["surface"].shape == (241, 241)
    assert len(frames(run, "optimizer_race", tmp_path)) == 26


def test_noisy_race_and_an_unbounded_function_draw(tmp_path):
    exp = OptimizerRace(name="r", function="saddle", steps=100, noise=0.5,
                        racers={"SGD": Racer(optimizer="SGD", lr=0.01)})
    run = execute(exp, tmp_path)
    assert np.isnan(run.arrays()["minimum"])
    assert len(frames(run, "optimizer_race", tmp_path)) == 60  # FRAMES of the 101 points


def test_newton_field_finds_himmelblaus_nine_stationary_points_and_heads_for_them(tmp_path):
    run = execute(NewtonField(name="n", arrows=5, particles=3, steps=6), tmp_path)
    a = run.arrays()
    assert sorted(a["stationary_kind"].tolist()) == [0] * 4 + [1] * 4 + [2]
    np.testing.assert_allclose(a["stationary"][a["stationary_kind"] == 2][0], (-0.270845, -0.923039), atol=1e-5)
    for m in race.FUNCTIONS["himmelblau"].minima:
        assert np.linalg.norm(a["stationary"] - m, axis=1).min() < 1e-5
    assert a["gd_paths"].shape == a["newton_paths"].shape == (7, 9, 2)
    assert len(frames(run, "newton_field", tmp_path)) == 7


def test_newton_particles_climb_to_the_hilltop_gradient_descent_leaves():
    function = race.FUNCTIONS["himmelblau"]
    top, start = np.array([-0.270845, -0.923039]), np.array([[-0.1, -0.8]])
    newton = demos.descend(function, start, 60, 0.15, newton=True)[-1, 0]
    gd = demos.descend(function, start, 60, 0.005, newton=False)[-1, 0]
    assert np.linalg.norm(newton - top) < 1e-3 < 1 < np.linalg.norm(gd - top)

# ---------------------------------------------------------------- MDS of cities


def test_34_cities_gradient_descent_ends_far_below_nelder_mead(tmp_path):
    run = execute(CityMDS(name="m", cities=34, budget=400), tmp_path)
    a = run.arrays()
    assert list(a["names"]) == mds.load_cities(34).name and a["truth"].shape == (34, 2)
    for key in ("gd", "nm"):
        assert a[f"{key}_losses"].shape == (400,) and a[f"{key}_snapshots"].shape == (60, 34, 2)
        assert a[f"{key}_snapshot_evals"][-1] == 400 and a[f"{key}_snapshot_evals"][0] == 1
    # at every evaluation count past the first hundred, by a factor of a thousand at least
    assert (a["gd_losses"][100:] * 1000 < a["nm_losses"][100:]).all()


def test_mds_gif_has_a_frame_per_snapshot(tmp_path):
    run = execute(CityMDS(name="m", cities=6, budget=40), tmp_path)
    assert len(frames(run, "mds_cities", tmp_path)) == 40  # a snapshot after every evaluation: budget < FRAMES


def test_log_spaced_snapshots():
    assert mds.log_spaced(1000, 4) == [1, 10, 100, 1000]
    assert mds.log_spaced(5, 9) == [1, 2, 3, 4, 5]
    at = mds.log_spaced(2000, 60)
    assert len(at) == 60 and at[-1] == 2000 and all(b > a for a, b in zip(at, at[1:]))
