"""Landscape engine and trajectory projections against their formulas and a plain per-point loop."""
import copy

import numpy as np
import pytest
import torch
from torch import nn

from reportgen.compute import directions, landscape, trajectory
from reportgen.store.io import RunError

ALPHAS, BETAS = torch.linspace(-1, 1, 5), torch.linspace(-0.5, 1, 4)


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(),
                         nn.Linear(32, 32), nn.LeakyReLU(0.1), nn.Linear(32, 10))


def cnn():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.5),
                          nn.Conv2d(8, 8, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 10))
    with torch.no_grad():  # stored statistics unlike the batch's, so the two batch-norm modes differ
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    return model


class Residual(nn.Module):
    """Not a Sequential: only the generic vmap path can take it."""

    def __init__(self):
        super().__init__()
        self.inp, self.hidden, self.out = nn.Linear(48, 16), nn.Linear(16, 16), nn.Linear(16, 10)

    def forward(self, x):
        h = torch.relu(self.inp(x.flatten(1)))
        return self.out(h + torch.tanh(self.hidden(h)))


def data(n=40):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, 4, 4, generator=g), torch.randint(0, 10, (n,), generator=g)


def per_point_loop(model, X, y, center, dirs, coeffs, batch_stats=False):
    """The reference: set the weights of each point, forward, next point."""
    model = copy.deepcopy(model).eval()
    if batch_stats:
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.train()
                m.running_mean = m.running_var = None
    flat = [torch.cat([t.reshape(-1) for t in ts]) for ts in (center, *dirs)]
    losses = []
    with torch.no_grad():
        for c in coeffs:
            theta = flat[0] + sum(k * d for k, d in zip(c.tolist(), flat[1:]))
            torch.nn.utils.vector_to_parameters(theta, model.parameters())
            losses.append(nn.functional.cross_entropy(model(X), y).item())
    return np.array(losses)


def plane_coeffs():
    b, a = torch.meshgrid(BETAS, ALPHAS, indexing="ij")
    return torch.stack([a.flatten(), b.flatten()], 1)


# --- directions ---

def test_filter_normalised_slices_have_the_weights_norms_and_zero_biases():
    for model in (mlp(), cnn()):
        d = directions.random_direction(model, seed=3)
        for p, di in zip(model.parameters(), d):
            if p.dim() > 1:
                for w_row, d_row in zip(p, di):
                    assert torch.isclose(d_row.norm(), w_row.norm(), rtol=1e-5)
            else:
                assert torch.count_nonzero(di) == 0


def test_layer_and_none_normalisation_and_included_biases():
    model = mlp()
    layer = directions.random_direction(model, seed=3, norm="layer", include_1d=True)
    raw = directions.random_direction(model, seed=3, norm="none", include_1d=True)
    for p, dl, dr in zip(model.parameters(), layer, raw):
        assert torch.isclose(dl.norm(), p.norm(), rtol=1e-5)
        assert torch.allclose(dl, dr * p.norm() / dr.norm(), rtol=1e-5)  # one scale for the whole tensor
    with pytest.raises(ValueError, match="norm="):
        directions.random_direction(model, norm="row")


def test_same_seed_same_direction():
    model = mlp()
    a, b, c = (directions.random_direction(model, seed=s) for s in (5, 5, 6))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, z) for x, z in zip(a, c))
    g = directions.random_direction(model, seed=torch.Generator().manual_seed(5))
    assert all(torch.equal(x, y) for x, y in zip(a, g))


def test_to_direction_splits_a_flat_vector_by_parameter():
    model = mlp()
    flat = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    assert all(torch.equal(d, p) for d, p in zip(directions.to_direction(model, flat.numpy()),
                                                 model.parameters()))


# --- evaluation engine ---

@pytest.mark.parametrize("build, path", [(mlp, "mlp"), (cnn, "vmap-tail"), (Residual, "vmap")])
def test_plane_equals_the_per_point_loop(build, path):
    model, (X, y) = build(), data()
    assert landscape.engine_path(model) == path
    center = [p.detach().clone() for p in model.parameters()]
    d1, d2 = directions.random_direction(model, 1), directions.random_direction(model, 2, include_1d=True)
    # a small budget forces several chunks
    got = landscape.plane(model, nn.CrossEntropyLoss(), X, y, None, d1, d2, ALPHAS, BETAS, budget=200_000)
    want = per_point_loop(model, X, y, center, [d1, d2], plane_coeffs()).reshape(got.loss.shape)
    assert got.loss.shape == (len(BETAS), len(ALPHAS))
    np.testing.assert_allclose(got.loss, want, rtol=1e-5)
    assert np.all((got.accuracy >= 0) & (got.accuracy <= 1))
    assert all(torch.equal(p, c) for p, c in zip(model.parameters(), center))  # model left as it was
    assert all(m.training for m in model.modules())


def test_line_equals_the_loop_and_centre_is_the_models_loss():
    model, (X, y) = mlp(), data()
    center = [p.detach().clone() for p in model.parameters()]
    d = directions.random_direction(model, 1, norm="layer", include_1d=True)
    got = landscape.line(model, nn.CrossEntropyLoss(), X, y, center, d, ALPHAS)
    want = per_point_loop(model, X, y, center, [d], ALPHAS[:, None])
    np.testing.assert_allclose(got.loss, want, rtol=1e-5)
    with torch.no_grad():
        out = model.eval()(X)
        at_center = nn.functional.cross_entropy(out, y).item()
        accuracy = (out.argmax(1) == y).float().mean().item()
    centre = landscape.plane(model, nn.CrossEntropyLoss(), X, y, None, d, d, [0.0], [0.0])
    assert centre.loss[0, 0] == pytest.approx(at_center, rel=1e-6)
    assert centre.accuracy[0, 0] == pytest.approx(accuracy)


def test_recompute_bn_normalises_with_each_points_batch():
    model, (X, y) = cnn(), data()
    center = [p.detach().clone() for p in model.parameters()]
    d1, d2 = directions.random_direction(model, 1), directions.random_direction(model, 2)
    got = landscape.plane(model, nn.CrossEntropyLoss(), X, y, center, d1, d2, ALPHAS, BETAS,
                          recompute_bn=True)
    want = per_point_loop(model, X, y, center, [d1, d2], plane_coeffs(), batch_stats=True)
    np.testing.assert_allclose(got.loss.ravel(), want, rtol=1e-5)
    stored = landscape.plane(model, nn.CrossEntropyLoss(), X, y, center, d1, d2, ALPHAS, BETAS)
    assert not np.allclose(stored.loss, got.loss)
    assert model[1].running_mean.abs().sum() > 0 and model[1].running_var is not None


def test_resume_equals_uninterrupted(tmp_path):
    model, (X, y) = mlp(), data()
    d1, d2 = directions.random_direction(model, 1), directions.random_direction(model, 2)
    args = (model, nn.CrossEntropyLoss(), X, y, None, d1, d2, ALPHAS, BETAS)
    whole = landscape.plane(*args, budget=200_000)
    cache = tmp_path / "plane.npz"
    first = landscape.plane(*args, budget=200_000, cache=cache, max_chunks=1)
    size = np.isfinite(first.loss).sum()
    assert 0 < size < first.loss.size / 2
    left = -(-(first.loss.size - size) // size)
    # only the chunks left are computed: that many finish the grid
    resumed = landscape.plane(*args, budget=200_000, cache=cache, max_chunks=left)
    np.testing.assert_array_equal(resumed.loss, whole.loss)
    np.testing.assert_array_equal(resumed.accuracy, whole.accuracy)
    np.testing.assert_array_equal(landscape.plane(*args, cache=cache, max_chunks=0).loss, whole.loss)
    assert [p.name for p in tmp_path.iterdir()] == ["plane.npz"]  # no temporary left behind
    with pytest.raises(ValueError, match="another grid"):
        landscape.plane(model, nn.CrossEntropyLoss(), X, y, None, d2, d1, ALPHAS, BETAS, cache=cache)


# --- trajectory projections ---

@pytest.fixture
def walk(tmp_path):
    """A random walk of 9 snapshots of 1000 weights, its paths and the matrix of differences."""
    rng = np.random.default_rng(0)
    thetas = np.cumsum(rng.standard_normal((9, 1000)) * np.linspace(2, 0.1, 1000), 0).astype(np.float32)
    paths = [tmp_path / f"{i}.npy" for i in range(len(thetas))]
    for path, theta in zip(paths, thetas):
        np.save(path, theta)
    return paths, thetas.astype(np.float64) - thetas[-1]


def test_pca_matches_numpy_svd(walk):
    paths, diffs = walk
    got = trajectory.pca(paths, budget=8 * 9 * 64)  # blocks of 64 weights
    rows = diffs[:-1] - diffs[:-1].mean(0)
    _, s, vt = np.linalg.svd(rows, full_matrices=False)
    np.testing.assert_allclose(got.explained, s[:2] ** 2 / (s ** 2).sum(), rtol=1e-6)
    assert got.explained.sum() <= 1
    signs = np.sign(diffs[0] @ vt[:2].T)
    np.testing.assert_allclose(got.directions, vt[:2] * signs[:, None], atol=1e-6)
    np.testing.assert_allclose(got.coords, diffs @ vt[:2].T * signs, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(got.coords[-1], 0)
    np.testing.assert_allclose(got.coords, trajectory.pca(paths).coords, rtol=1e-9)


def test_random_projection_is_seeded_and_blockwise_invariant(walk):
    paths, diffs = walk
    small = trajectory.random_projection(paths, 7, budget=8 * 9 * 100)  # blocks of 100 weights
    large = trajectory.random_projection(paths, 7)
    np.testing.assert_allclose(small.coords, large.coords, rtol=1e-9)
    r = np.random.default_rng(7).standard_normal((1000, 2))
    np.testing.assert_allclose(large.coords, diffs @ (r / np.linalg.norm(r, axis=0)), rtol=1e-9)
    np.testing.assert_array_equal(large.coords[-1], 0)
    assert not np.allclose(trajectory.random_projection(paths, 8).coords, large.coords)


def test_mds_matches_classical_mds_on_distances(walk):
    paths, diffs = walk
    got = trajectory.mds(paths, budget=8 * 9 * 64)
    d2 = ((diffs[:, None] - diffs[None]) ** 2).sum(-1)
    j = np.eye(9) - 1 / 9
    vals, vecs = np.linalg.eigh(-0.5 * j @ d2 @ j)
    want = vecs[:, ::-1][:, :2] * np.sqrt(vals[::-1][:2])
    want = (want - want[-1]) * np.sign(want[0] - want[-1])
    np.testing.assert_allclose(got.coords, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got.explained, vals[::-1][:2] / vals.sum(), rtol=1e-6)


def test_snapshots_must_be_flat_float32_of_one_length(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(5, np.float32))
    np.save(tmp_path / "b.npy", np.zeros(5, np.float64))
    (tmp_path / "c.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:-4])
    for bad in ("b.npy", "c.npy"):
        with pytest.raises(RunError, match=bad):
            trajectory.open_snapshots([tmp_path / "a.npy", tmp_path / bad])
