"""Gradient statistics against the talk's one-liner, numpy's order statistics and plain formulas."""
import math
import warnings

import numpy as np
import pytest
import torch

from reportgen.compute import native, stats
from reportgen.compute.stats import PERCENTS, STATS, global_norm, grad_stats

PLAIN = ("-DPLAIN", "-fno-openmp")   # the kernel as built without AVX2 or OpenMP (another machine's)
LOGS = [STATS.index(f"q{p:02d}") if p != 50 else STATS.index("median") for p in PERCENTS]


def one_liner(g):
    """The talk's statistic, verbatim but for the empty case (torch.median of nothing is NaN too)."""
    return g.view(-1)[g.view(-1) != 0].abs().log10().median().item()


@pytest.fixture(params=["kernel", "plain kernel", "sort"])
def path(request, monkeypatch):
    """Every implementation: the CPU kernel as built here (AVX2, OpenMP), the kernel as built elsewhere
    (portable C++, its own threads), and the device-agnostic sort the GPU uses."""
    if request.param == "sort":
        monkeypatch.setattr(stats, "_on_cpu", lambda grads: None)
        return request.param
    lib = stats._kernel(*(PLAIN if request.param == "plain kernel" else ()))
    assert lib is not None, "no C++ compiler: the CPU kernel is untested"
    monkeypatch.setattr(stats, "_on_cpu", lambda grads: lib)
    return request.param


def bits(x):
    """float32 values as int32 bit patterns, every NaN the same: equal means equal bit for bit."""
    a = np.asarray(x, np.float32)
    return np.where(np.isnan(a), -1, a.view(np.int32))


def assert_median_exact(grads):
    table = grad_stats(grads)
    assert table.dtype == torch.float32 and table.shape == (len(grads), len(STATS))
    np.testing.assert_array_equal(bits(table[:, 0]), bits([one_liner(g) for g in grads]))


def assert_order_statistics(grads, table):
    """Each log column is log10 of numpy's order statistic of rank floor(p (m - 1) / 100) of the m
    non-zero |g|, which is np.quantile(..., method="lower")."""
    for g, row in zip(grads, table):
        a = np.sort(np.abs(g.detach().float().numpy().ravel()))
        a = a[a != 0]
        if a.size == 0:
            assert row[:5].isnan().all()
            continue
        picks = np.array([a[(a.size - 1) * p // 100] for p in PERCENTS], np.float32)
        np.testing.assert_array_equal(picks, np.quantile(a, np.array(PERCENTS) / 100, method="lower"))
        np.testing.assert_array_equal(bits(row[LOGS]), bits(torch.from_numpy(picks).log10()))


def random_tensor(gen, n, zeros=0.0, scale=None):
    """Normal values times 10**scale (scale drawn from -44..30 when not given), a share of exact zeros."""
    scale = torch.empty(()).uniform_(-44, 30, generator=gen).item() if scale is None else scale
    g = torch.randn(n, generator=gen, dtype=torch.float64) * 10.0 ** scale
    g[torch.rand(n, generator=gen) < zeros] = 0
    return g.float()


SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 99, 100, 255, 256, 1000, 4095, 4096, 4097, 32767, 32768, 65536, 100_003]


def test_median_is_the_one_liner_bit_for_bit(path):
    gen = torch.Generator().manual_seed(0)
    grads = [random_tensor(gen, n, zeros) for n in SIZES for zeros in (0.0, 0.3, 0.9)]
    assert_median_exact(grads)
    assert_order_statistics(grads, grad_stats(grads))


def test_even_and_odd_non_zero_counts(path):
    """Lower middle for an even count, on shapes that keep the two middles apart."""
    grads = [torch.tensor([1.0, 0.0, 3.0, 10.0, 0.0, -100.0]), torch.tensor([2.0, -5.0, 0.0]),
             torch.arange(1, 40_001, dtype=torch.float32).reshape(200, 200), torch.arange(40_001.0)]
    assert_median_exact(grads)
    assert grad_stats(grads[:1])[0, 0].item() == pytest.approx(math.log10(3.0))


def test_picks_sharing_a_bin_and_at_the_ends_of_the_range(path):
    """Large tensors (the histogram path) whose picks fall in one bin, in two, or next to inf."""
    gen = torch.Generator().manual_seed(6)
    two = torch.where(torch.rand(50_000, generator=gen) < 0.3, 1.0, 1.0001)   # both in one bin
    ends = torch.cat([torch.full((9000,), 3e38), torch.full((1000,), float("inf")), torch.full((30_000,), 1e-45)])
    grads = [torch.full((70_000,), -0.5), two, two * 3e-36, ends[torch.randperm(40_000, generator=gen)],
             torch.cat([torch.zeros(60_000), torch.tensor([7.0])])]
    assert_median_exact(grads)
    assert_order_statistics(grads, grad_stats(grads))


def test_tiny_values_and_subnormals_stay_exact(path):
    """1e-35, the smallest normal, subnormals down to 1e-45: no -inf, no zero, no flush."""
    gen = torch.Generator().manual_seed(1)
    tiny = torch.tensor([1e-45, 3e-45, 1e-44, 1e-42, 1e-40, 1e-39, 1.17549435e-38, 1e-37, 1e-35, 0.0])
    sub = (torch.randint(1, 1 << 23, (50_000,), generator=gen, dtype=torch.int32)
           >> torch.randint(0, 23, (50_000,), generator=gen, dtype=torch.int32)).view(torch.float32)
    sub[:20_000] = 0   # zeros share the first histogram bin with the smallest subnormals
    grads = [tiny, tiny[:8], random_tensor(gen, 70_000, 0.5, -35), sub, -sub, random_tensor(gen, 999, 0.1, -41)]
    assert_median_exact(grads)
    table = grad_stats(grads)
    assert_order_statistics(grads, table)
    assert table[:, :5].isfinite().all() and (table[:, :5] < -30).all()
    assert table[1, 6] > 0
    assert table[2, 6] == pytest.approx(torch.linalg.vector_norm(grads[2].double()).item(), rel=1e-6)


def test_all_zeros_nan_and_inf(path):
    nan, inf = float("nan"), float("inf")
    grads = [torch.zeros(5), torch.zeros(70_000), torch.tensor([1.0, nan, 3.0]), torch.tensor([1.0, inf, inf, 0, 1e3])]
    table = grad_stats(grads)
    assert table[:2, :5].isnan().all() and table[:2, 5:].tolist() == [[1, 0], [1, 0]]
    assert table[2].isnan().all()   # as torch.median: a NaN anywhere makes the row NaN
    assert_median_exact(grads)
    assert table[3, STATS.index("q95")] == inf and table[3, 6] == inf


@pytest.mark.parametrize("flags", [(), PLAIN], ids=["kernel", "plain kernel"])
def test_the_kernel_writes_every_output_it_is_given(flags):
    """Outputs arrive uninitialised (torch.empty): garbage in them must never survive, all-zero tensors
    included, whose picks are skipped."""
    grads = [torch.zeros(70_000), torch.zeros(10), torch.full((70_000,), 2.0)]
    lib = stats._kernel(*flags)
    zeros, ss = torch.full((3,), -1, dtype=torch.int64), torch.full((3,), float("nan"), dtype=torch.float64)
    bits = torch.full((3, 5), -1, dtype=torch.int32)
    native.call(lib.grad_stats, grads, np.asarray(PERCENTS, np.int32), bits, zeros, ss)
    assert zeros.tolist() == [70_000, 10, 0] and ss.tolist() == [0.0, 0.0, 4.0 * 70_000]
    assert (bits[2].view(torch.float32) == 2.0).all()


def test_zero_fraction_and_l2_against_formulas(path):
    gen = torch.Generator().manual_seed(2)
    grads = [random_tensor(gen, n, zeros, 0) for n, zeros in ((10, 0.5), (3000, 0.2), (80_000, 0.7))]
    grads.append(torch.full((1000,), 1e-30))   # float32 squares would underflow to a zero norm
    table = grad_stats(grads)
    for g, row in zip(grads, table):
        assert row[5].item() == pytest.approx((g == 0).double().mean().item(), rel=1e-7)
        assert row[6].item() == pytest.approx(torch.linalg.vector_norm(g.double()).item(), rel=1e-6)


def mlp_gradients(activation, depth=12, width=32):
    torch.manual_seed(3)
    layers = [torch.nn.Flatten(), torch.nn.Linear(48, width), activation()]
    for _ in range(depth - 2):
        layers += [torch.nn.Linear(width, width), activation()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))
    x, y = torch.randn(64, 3, 4, 4), torch.randint(0, 10, (64,))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    return model


@pytest.mark.parametrize("activation", [torch.nn.ReLU, torch.nn.Tanh, torch.nn.Identity])
def test_real_gradients_of_a_deep_mlp(path, activation):
    model = mlp_gradients(activation)
    grads = [p.grad for p in model.parameters()]
    assert_median_exact(grads)
    assert_order_statistics(grads, grad_stats(grads))


def test_global_norm_is_clip_grad_norm_total(path):
    model = mlp_gradients(torch.nn.ReLU)
    grads = [p.grad.clone() for p in model.parameters()]
    total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=float("inf"))
    norm = global_norm(grads)
    assert norm.shape == () and norm.dtype == torch.float32
    assert norm.item() == pytest.approx(total.item(), rel=1e-6)
    assert norm.item() == pytest.approx(grad_stats(grads)[:, 6].double().norm().item(), rel=1e-6)
    tiny = [torch.full((100,), 1e-30), torch.full((10,), -1e-31)]
    assert global_norm(tiny).item() == pytest.approx(math.sqrt(100e-60 + 10e-62), rel=1e-6)


def test_half_precision_is_read_as_float32(path):
    gen = torch.Generator().manual_seed(4)
    grads = [random_tensor(gen, n, 0.2, -3) for n in (17, 4096, 40_000)]
    for dtype in (torch.float16, torch.bfloat16):
        low = [g.to(dtype) for g in grads]
        torch.testing.assert_close(grad_stats(low), grad_stats([g.float() for g in low]), rtol=0, atol=0)
        assert global_norm(low).item() == pytest.approx(global_norm([g.float() for g in low]).item(), rel=1e-6)


def test_strided_and_empty_input(path):
    g = torch.randn(300, 200)
    torch.testing.assert_close(grad_stats([g.t()]), grad_stats([g.t().contiguous()]), rtol=0, atol=0)
    assert grad_stats([]).shape == (0, len(STATS)) and global_norm([]).item() == 0


def test_log10_does_not_depend_on_where_a_value_sits():
    """The exactness rests on this: torch.log10 of a value is the same in any tensor, at any position
    (vectorised body or tail), so log10 of the picked elements equals the one-liner's."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randint(1, 0x7F800000, (300_007,), generator=gen, dtype=torch.int32).view(torch.float32)
    whole = x.log10()
    for n in (1, 3, 5, 7, 8, 9, 16, 17, 33):
        parts = torch.cat([c.log10() for c in x[: n * 2000].split(n)])
        assert torch.equal(parts.view(torch.int32), whole[: n * 2000].view(torch.int32))


def test_without_a_compiler_the_sort_path_is_used(monkeypatch, tmp_path):
    stats._kernel.cache_clear()
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    try:
        with pytest.warns(RuntimeWarning, match="no C.. kernel"):
            assert stats._kernel() is None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert_median_exact([torch.randn(1001), torch.zeros(3)])
    finally:
        stats._kernel.cache_clear()
