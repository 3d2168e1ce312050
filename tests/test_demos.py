"""The demo computations against references: Eckart–Young, hand-written update rules, Procrustes, haversine."""
import numpy as np
import pytest
import torch
from PIL import Image

from reportgen.compute import mds, optim, race, svd
from reportgen.declare.demos import MODES
from reportgen.draw.figures import svd_compression, weight_spectrum

# ---------------------------------------------------------------- SVD compression


@pytest.fixture(scope="module")
def image():
    return svd.load_image()[::8, ::8]  # 75×64×3: small enough to SVD in milliseconds


def matrices(image, mode):
    """The matrices each mode compresses, built here independently of svd.py."""
    channels = [image[..., c] for c in range(3)]
    return {"gray": [image @ np.array([0.299, 0.587, 0.114])], "channels": channels,
            "stacked": [np.hstack(channels)]}[mode]


@pytest.mark.parametrize("mode", MODES)
def test_svd_errors_are_eckart_young_and_the_real_error(image, mode):
    mats = matrices(image, mode)
    sigmas = [np.linalg.svd(m, compute_uv=False) for m in mats]
    norm = np.sqrt(sum((m**2).sum() for m in mats))
    arrays = svd.compress(image, mode=mode)
    c = svd_compression.compression(arrays)
    k = len(sigmas[0])
    assert c.s.shape[-1] == k and len(arrays["errors"]) == k + 1
    target = mats[0] if mode == "gray" else image
    for r in (0, 1, 5, 17, k - 1, k):
        tail = np.sqrt(sum((s[r:] ** 2).sum() for s in sigmas)) / norm
        actual = np.linalg.norm(target - c.reconstruct(r)) / norm
        assert arrays["errors"][r] == pytest.approx(tail, rel=1e-9, abs=1e-12)
        assert arrays["errors"][r] == pytest.approx(actual, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(c.reconstruct(k), target, atol=1e-12)
    m, n = mats[0].shape
    np.testing.assert_allclose(arrays["storage"], np.arange(k + 1) * (m + n + 1) / (m * n))


def test_frames_walk_the_given_ranks(image):
    c = svd_compression.compression(svd.compress(image, mode="channels"))
    c.ranks = [1, 3, 64]
    frames = list(c.frames())
    assert [r for r, _ in frames] == [1, 3, 64] and frames[0][1].shape == image.shape


def test_default_ranks_every_rank_first_then_coarser_to_full():
    ranks = svd_compression.default_ranks(512)
    assert ranks[:20] == list(range(1, 21)) and ranks[-1] == 512 and 40 <= len(ranks) <= 60
    assert all(b > a for a, b in zip(ranks, ranks[1:]))
    assert svd_compression.default_ranks(30) == list(range(1, 31))


def test_load_image_default_and_grayscale(tmp_path):
    default = svd.load_image()
    assert default.shape == (600, 512, 3) and 0.0 <= default.min() and default.max() <= 1.0
    Image.fromarray(np.full((4, 6), 255, np.uint8)).save(tmp_path / "white.png")
    np.testing.assert_array_equal(svd.load_image(tmp_path / "white.png"), np.ones((4, 6)))


def test_not_an_image_is_a_clear_error(tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("just text")
    with pytest.raises(ValueError, match="is not an image"):
        svd.load_image(fake)
    with pytest.raises(ValueError, match="mode 'hsv'"):
        svd.compress(np.zeros((3, 3)), mode="hsv")


def test_spectra_are_singular_values_of_weights():
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4, 3))
    s = weight_spectrum.spectra({n: w.detach().numpy() for n, w in net.state_dict().items()})
    assert set(s) == {"0.weight", "2.weight"}
    np.testing.assert_allclose(s["0.weight"], np.linalg.svd(net[0].weight.detach().double().reshape(4, 18).numpy(),
                                                            compute_uv=False))

# ---------------------------------------------------------------- optimizers, by hand


START, LR = (-1.2, 1.0), 1e-3


def rosenbrock_gradient(p):
    x, y = p
    return np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])


def by_hand(rule, steps=2):
    """Points of `steps` updates p ← rule(p, g, state, t), t counting from 1."""
    p, state, points = np.array(START), {}, [np.array(START)]
    for t in range(1, steps + 1):
        p = rule(p, rosenbrock_gradient(p), state, t)
        points.append(p)
    return np.array(points)


def ema(state, key, beta, value):
    state[key] = beta * state.get(key, 0.0) + value
    return state[key]


def adam(p, g, s, t, b1=0.9, b2=0.999, eps=1e-8):
    # torch adds eps to sqrt(v_hat) = sqrt(v)/sqrt(1-b2^t); the playbook adds it to sqrt(v) before the correction
    m, v = ema(s, "m", b1, (1 - b1) * g), ema(s, "v", b2, (1 - b2) * g**2)
    return p - LR / (1 - b1**t) * m / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps)


def nadam(p, g, s, t, b1=0.9, b2=0.999, eps=1e-8, psi=4e-3):
    # Dozat's NAdam with torch's momentum schedule mu_t = b1(1 - 0.96^(t psi)/2); the playbook's form has mu_t = b1
    mu, mu_next = (b1 * (1 - 0.5 * 0.96 ** (k * psi)) for k in (t, t + 1))
    s["prod"] = float(np.float32(s.get("prod", 1.0) * mu))  # torch keeps this product in a float32 scalar
    m, v = ema(s, "m", b1, (1 - b1) * g), ema(s, "v", b2, (1 - b2) * g**2)
    denom = np.sqrt(v / (1 - b2**t)) + eps
    return p - LR * (1 - mu) / (1 - s["prod"]) * g / denom - LR * mu_next / (1 - s["prod"] * mu_next) * m / denom


def rmsprop(p, g, s, t, rho=0.99, gamma=0.0, eps=1e-8):
    # the playbook's RMSProp with torch's conventions: v_0 = 0 (not 1) and eps outside the root
    v = ema(s, "v", rho, (1 - rho) * g**2)
    return p - ema(s, "m", gamma, LR * g / (np.sqrt(v) + eps))


HAND = {  # name: (torch optimizer, kwargs, the update rule from the playbook / lecture)
    "sgd": (torch.optim.SGD, {}, lambda p, g, s, t: p - LR * g),
    "momentum": (torch.optim.SGD, {"momentum": 0.9}, lambda p, g, s, t: p - LR * ema(s, "v", 0.9, g)),
    "nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True},
                 lambda p, g, s, t: p - LR * (g + 0.9 * ema(s, "v", 0.9, g))),
    "adagrad": (torch.optim.Adagrad, {}, lambda p, g, s, t: p - LR * g / (np.sqrt(ema(s, "G", 1.0, g**2)) + 1e-10)),
    "rmsprop": (torch.optim.RMSprop, {}, rmsprop),
    "rmsprop-momentum": (torch.optim.RMSprop, {"momentum": 0.9}, lambda p, g, s, t: rmsprop(p, g, s, t, gamma=0.9)),
    "adam": (torch.optim.Adam, {}, adam),
    "adamw": (torch.optim.AdamW, {"weight_decay": 0.1}, lambda p, g, s, t: adam(p * (1 - LR * 0.1), g, s, t)),
    "nadam": (torch.optim.NAdam, {}, nadam),
}


@pytest.mark.parametrize("name", HAND)
def test_first_two_steps_follow_the_update_rule(name):
    cls, kwargs, rule = HAND[name]
    track = race.race("rosenbrock", {name: (cls, {"lr": LR, **kwargs})}, steps=2, start=START)[name]
    np.testing.assert_allclose(track.path, by_hand(rule), rtol=1e-12, atol=1e-15)
    assert track.losses[2] == pytest.approx(race.FUNCTIONS["rosenbrock"].f(torch.tensor(track.path[2])).item())


def lion(p, g, s, t, b1=0.9, b2=0.99, wd=0.1):
    # Chen et al. 2023, Algorithm 2
    update = np.sign(b1 * s.get("m", 0.0) + (1 - b1) * g)
    s["m"] = b2 * s.get("m", 0.0) + (1 - b2) * g
    return p - LR * (update + wd * p)


def muon(p, g, s, t, mu=0.95, wd=0.1):
    # seed 001's algorithm; for a 1×2 matrix X Xᵀ is the scalar |x|², so NewtonSchulz5 is a scalar recursion
    b = ema(s, "b", mu, g)
    x = (g + mu * b) / (np.linalg.norm(g + mu * b) + 1e-7)
    for _ in range(5):
        x = x * (3.4445 - 4.7750 * (x @ x) + 2.0315 * (x @ x) ** 2)
    assert 0.69 < np.linalg.norm(x) < 0.70  # the normalised-momentum length the Muon docstring promises
    return p - LR * (x + wd * p)


@pytest.mark.parametrize("cls, rule", [(optim.Lion, lion), (optim.Muon, muon)])
def test_lion_and_muon_follow_their_papers(cls, rule):
    track = race.race("rosenbrock", {"x": (cls, {"lr": LR, "weight_decay": 0.1})}, steps=2, start=START)["x"]
    np.testing.assert_allclose(track.path, by_hand(rule), rtol=1e-12, atol=1e-15)


def test_newton_schulz_orthogonalises_a_matrix():
    g = torch.randn(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    singular = torch.linalg.svdvals(optim.newton_schulz(g))
    assert ((singular > 0.6) & (singular < 1.25)).all()


def test_diverging_racer_stops_with_nan():
    track = race.race("rosenbrock", {"sgd": (torch.optim.SGD, {"lr": 0.1})}, steps=50)["sgd"]
    finite = np.isfinite(track.losses)
    assert track.path.shape == (51, 2) and finite[0] and not finite[-1]
    assert finite.sum() == np.argmin(finite) and np.isnan(track.path[~finite]).all()


def test_constant_step_sgd_does_not_settle_with_noisy_gradients():
    sgd = {"sgd": (torch.optim.SGD, {"lr": 0.05})}
    clean = race.race("ravine", sgd, steps=400)["sgd"].path
    noisy, again, other = (race.race("ravine", sgd, steps=400, noise=1.0, seed=s)["sgd"].path for s in (0, 0, 1))
    assert np.linalg.norm(clean[-1]) < 1e-6
    assert np.linalg.norm(noisy[-100:], axis=1).mean() > 0.05
    np.testing.assert_array_equal(noisy, again)
    assert not np.array_equal(noisy, other)


@pytest.mark.parametrize("name, negative", [("ravine", 0), ("saddle", 1)])
def test_newton_jumps_to_the_stationary_point_of_a_quadratic(name, negative):
    field = race.newton_field(name, n=7)
    points = np.stack(np.meshgrid(field.x, field.y), -1)
    np.testing.assert_allclose(points + field.newton, 0.0, atol=1e-12)  # the saddle's too, not just a minimum's
    assert (field.negative_curvature == negative).all()
    hand = -np.stack([points[..., 0], 20 * points[..., 1]] if name == "ravine" else
                     [2 * points[..., 0], -2 * points[..., 1]], -1)
    np.testing.assert_allclose(field.gradient, hand, atol=1e-12)


def test_newton_heads_for_a_maximum_where_gradient_descent_leaves_it():
    peak = np.array([-0.270845, -0.923039])  # Himmelblau's local maximum
    field = race.newton_field("himmelblau", box=((-0.35, -0.2), (-1.0, -0.85)), n=3)
    points = np.stack(np.meshgrid(field.x, field.y), -1)
    assert (field.negative_curvature == 2).all()
    before = np.linalg.norm(points - peak, axis=-1)
    assert (np.linalg.norm(points + field.newton - peak, axis=-1) < 0.2 * before + 1e-5).all()
    assert ((field.gradient * (peak - points)).sum(-1) <= 1e-9).all()

# ---------------------------------------------------------------- MDS of cities


def test_haversine_paris_london():
    c = mds.load_cities()
    D = mds.haversine(c.lat, c.lon)
    assert D[c.name.index("Paris"), c.name.index("London")] == pytest.approx(344, abs=2)
    assert np.allclose(D, D.T) and np.all(np.diag(D) == 0)


def test_city_subsets_are_the_largest():
    assert len(mds.load_cities().name) == 34
    assert mds.load_cities(6).name == ["Istanbul", "Moscow", "London", "Saint Petersburg", "Berlin", "Madrid"]
    assert np.all(np.diff(mds.load_cities(15).population) <= 0)


@pytest.mark.parametrize("reflect", [False, True])
def test_procrustes_recovers_a_known_similarity(reflect):
    Y = np.random.default_rng(0).standard_normal((10, 2))
    angle = 0.7
    R = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.diag([1, -1 if reflect else 1])
    X = 3.5 * Y @ R + np.array([100.0, -40.0])
    np.testing.assert_allclose(mds.procrustes_align(X, Y), Y, atol=1e-12)


def test_gradient_descent_beats_nelder_mead_on_34_cities():
    _, truth, results = mds.compare(34, budget=1000, frames=20)
    gd, nm = results["gd"], results["nelder-mead"]
    for r in (gd, nm):
        assert r.losses.shape == (1000,) and np.all(np.diff(r.losses) <= 0)
        assert r.snapshots.shape == (20, 34, 2) and r.snapshot_evals[-1] == 1000
    assert gd.losses[-1] * 10 < nm.losses[-1]
    # at its minimum the stress is only what a flat map cannot show of a sphere: a few hundred km at most
    assert np.sqrt(((gd.X - truth) ** 2).sum(1).mean()) < 300


def test_double_descent_is_the_minimum_norm_fit_and_descends_twice():
    import numpy as np
    from numpy.polynomial import chebyshev

    from reportgen.compute.double_descent import descent, fit
    from reportgen.declare import DoubleDescent
    x, y = np.linspace(-1, 1, 10), np.cos(np.arange(10.0))
    for degree in (3, 20):   # below the threshold the least-squares fit, above it the pseudo-inverse's smallest norm
        np.testing.assert_allclose(fit(x, y, degree), np.linalg.pinv(chebyshev.chebvander(x, degree)) @ y, atol=1e-8)
    a = descent(DoubleDescent(name="d"))
    test, n = a["test_error"], len(a["x"])
    assert int(np.argmax(test)) == n - 1 and a["train_error"][n - 1] < 1e-6   # the peak is the interpolation threshold
    first, second = test[:n // 2].min(), test[n + 10:].min()
    assert first < second < test[0] / 5 and test[n - 1] > 1e10 * second        # falls, peaks, falls again
