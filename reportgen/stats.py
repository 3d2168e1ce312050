"""Per-tensor gradient statistics: the talk's median of log10|g| and friends, exact and cheap every step."""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import torch

from .rundir import STATS, user_cache

PERCENTS = (5, 25, 50, 75, 95)   # picked in ascending order
_COLUMN = [2, 0, 1, 3, 4]        # STATS[i] (i < 5) is the pick of PERCENTS[_COLUMN[i]]

# The CPU path, compiled on first use (~2 s, cached per machine). Torch has no fused selection: on the CPU
# its sort costs 3.4 training steps of the benchmark model, a bincount radix select with gathers (tried)
# more than one; this kernel, which reads each tensor twice, a few hundredths (benchmarks/recording.py).
_KERNEL = r"""
// Per tensor: a histogram of the top bits of the non-zero |g| (the bits of a float >= 0 order like its
// value), then one vectorised pass for the sum of squares and the entries of the few bins the picks fall
// in, where nth_element finishes. Built with -fopenmp, tensors share out on torch's own OpenMP threads:
// the runtime is the one torch loaded, and its threads are still awake after backward.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>
#if defined(__x86_64__) && !defined(PLAIN)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma,popcnt")))
#endif

namespace {
constexpr int SMALL = 1 << 12, WAYS = 2, CHUNK = 64;

int64_t rank(int64_t m, int p) { return (m - 1) * p / 100; }   // numpy's "lower": floor(p (m-1) / 100)

void nth(uint32_t* v, int64_t n, int64_t k, uint32_t* out) {
  std::nth_element(v, v + k, v + n);
  *out = v[k];
}

double sum8(const double* s) { return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); }

// x[i..n): adds the sum of squares (double: 1e-25 squared is 0 in float) to *ss; when Pick, appends the
// non-zero |g| bits whose top bits are one of bin[0..5) at `end`. Returns the new end.
template <bool Pick>
uint32_t* gather_plain(const float* x, int64_t i, int64_t n, int shift, const uint32_t* bin, uint32_t* end,
                       double* ss) {
  const uint32_t* u = reinterpret_cast<const uint32_t*>(x);
  double s[8] = {};
  auto keep = [&](int64_t i) {
    uint32_t a = u[i] & 0x7fffffffu, b = a >> shift;
    if (Pick && a && (b == bin[0] || b == bin[1] || b == bin[2] || b == bin[3] || b == bin[4])) *end++ = a;
  };
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) s[j] += (double)x[i + j] * x[i + j];
    for (int j = 0; Pick && j < 8; ++j) keep(i + j);
  }
  for (; i < n; ++i) {
    s[0] += (double)x[i] * x[i];
    keep(i);
  }
  *ss += sum8(s);
  return end;
}

#ifdef AVX2
struct Pack {   // for each 8-bit mask, the lanes it keeps, first: a left-packing permutation
  alignas(32) int32_t lane[256][8] = {};
  Pack() {
    for (int m = 0; m < 256; ++m)
      for (int j = 0, k = 0; j < 8; ++j) if (m >> j & 1) lane[m][k++] = j;
  }
};

template <bool Pick>
AVX2 uint32_t* gather_avx2(const float* x, int64_t n, int shift, const uint32_t* bin, uint32_t* end, double* ss) {
  static const Pack pack;
  const __m256i abs = _mm256_set1_epi32(0x7fffffff), zero = _mm256_setzero_si256();
  const __m128i by = _mm_cvtsi32_si128(shift);
  __m256i b[5];
  for (int q = 0; q < 5; ++q) b[q] = _mm256_set1_epi32(Pick ? bin[q] : 0);
  __m256d s0 = _mm256_setzero_pd(), s1 = s0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    s0 = _mm256_fmadd_pd(lo, lo, s0);
    s1 = _mm256_fmadd_pd(hi, hi, s1);
    if (!Pick) continue;
    __m256i a = _mm256_and_si256(_mm256_castps_si256(v), abs), top = _mm256_srl_epi32(a, by);
    __m256i m = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi32(top, b[0]), _mm256_cmpeq_epi32(top, b[1])),
                                _mm256_or_si256(_mm256_cmpeq_epi32(top, b[2]), _mm256_cmpeq_epi32(top, b[3])));
    m = _mm256_andnot_si256(_mm256_cmpeq_epi32(a, zero), _mm256_or_si256(m, _mm256_cmpeq_epi32(top, b[4])));
    int mask = _mm256_movemask_ps(_mm256_castsi256_ps(m));   // no branch: store all 8, step past the kept
    __m256i keep = _mm256_load_si256(reinterpret_cast<const __m256i*>(pack.lane[mask]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(end), _mm256_permutevar8x32_epi32(a, keep));
    end += _mm_popcnt_u32(mask);
  }
  alignas(32) double s[8];
  _mm256_store_pd(s, s0);
  _mm256_store_pd(s + 4, s1);
  *ss = sum8(s);
  return gather_plain<Pick>(x, i, n, shift, bin, end, ss);
}
#endif

template <bool Pick>   // `end` has room for 8 more entries than are kept
uint32_t* gather(const float* x, int64_t n, int shift, const uint32_t* bin, uint32_t* end, double* ss) {
#ifdef AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2) return gather_avx2<Pick>(x, n, shift, bin, end, ss);
#endif
  *ss = 0;
  return gather_plain<Pick>(x, 0, n, shift, bin, end, ss);
}

void small(const float* x, int64_t n, const int* pct, uint32_t* out, int64_t* zeros, double* ss) {
  const uint32_t* u = reinterpret_cast<const uint32_t*>(x);
  std::vector<uint32_t> v;
  v.reserve(n);
  for (int64_t i = 0; i < n; ++i) if (uint32_t a = u[i] & 0x7fffffffu) v.push_back(a);
  gather<false>(x, n, 0, nullptr, nullptr, ss);
  *zeros = n - v.size();
  if (!v.empty()) for (int q = 0; q < 5; ++q) nth(v.data(), v.size(), rank(v.size(), pct[q]), out + q);
}

void stats(const float* x, int64_t n, const int* pct, uint32_t* out, int64_t* zeros, double* ss) {
  if (n < SMALL) return small(x, n, pct, out, zeros, ss);
  int shift = 17;   // about n / 4 bins, at most 2^14 (2^-6 relative width)
  while ((int64_t(1) << (31 - shift)) * 4 > n) ++shift;
  const int bins = 1 << (31 - shift);
  const uint32_t* u = reinterpret_cast<const uint32_t*>(x);
  std::vector<uint32_t> h(WAYS * bins), chunk(bins / CHUNK);   // interleaved ways: runs of a bin wait less
  int64_t i = 0;
  for (; i + WAYS <= n; i += WAYS)   // zeros come in runs (dead units): skipping them is well predicted
    for (int j = 0; j < WAYS; ++j) if (uint32_t a = u[i + j] & 0x7fffffffu) h[j * bins + (a >> shift)]++;
  for (; i < n; ++i) if (uint32_t a = u[i] & 0x7fffffffu) h[a >> shift]++;
  int64_t m = 0;
  for (int c = 0; c < bins / CHUNK; m += chunk[c++])   // sums of CHUNK bins: the scan below skips most
    for (int b = c * CHUNK; b < (c + 1) * CHUNK; ++b) {
      for (int j = 1; j < WAYS; ++j) h[b] += h[j * bins + b];
      chunk[c] += h[b];
    }
  *zeros = n - m;
  if (!m) {   // all zeros: no picks, and a sum of squares of 0
    *ss = 0;
    return;
  }
  int64_t want[5], below = 0, kept = 0, start[5];
  uint32_t bin[5];   // pick q: the want[q]-th entry of bin[q], whose entries will sit from start[q] on
  for (int q = 0; q < 5; ++q) want[q] = rank(m, pct[q]);
  for (int c = 0, q = 0; q < 5; below += chunk[c++]) {
    if (want[q] >= below + chunk[c]) continue;
    int64_t at = below;
    for (int b = c * CHUNK; q < 5 && b < (c + 1) * CHUNK; at += h[b++])
      for (; q < 5 && want[q] < at + h[b]; ++q) {
        if (!q || bin[q - 1] != uint32_t(b)) kept += h[b];
        bin[q] = b;
        start[q] = kept - h[b];
        want[q] -= at;
      }
  }
  std::vector<uint32_t> got(kept + 8), by_bin(kept);
  uint32_t* end = gather<true>(x, n, shift, bin, got.data(), ss);
  uint32_t* put[5];   // the first pick of each bin files its entries
  for (int q = 0; q < 5; ++q) put[q] = by_bin.data() + start[q];
  for (const uint32_t* p = got.data(); p < end; ++p) {
    int q = 0;
    while (*p >> shift != bin[q]) ++q;
    *put[q]++ = *p;
  }
  for (int q = 0; q < 5; ++q) nth(by_bin.data() + start[q], h[bin[q]], want[q], out + q);
}

template <class F> void each(int count, const int* order, int threads, F f) {   // largest first
  std::atomic<int> next{0};
  auto work = [&] { for (int t; (t = next++) < count;) f(order[t]); };
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  work();
#else
  std::vector<std::thread> pool;
  for (int k = 1; k < threads; ++k) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
#endif
}
}  // namespace

extern "C" void grad_stats(int count, const uint64_t* ptrs, const int64_t* sizes, const int* order, int threads,
                           const int* pct, uint32_t* out, int64_t* zeros, double* ss) {
  each(count, order, threads, [&](int i) {
    stats(reinterpret_cast<const float*>(ptrs[i]), sizes[i], pct, out + 5 * i, zeros + i, ss + i);
  });
}

extern "C" void sum_squares(int count, const uint64_t* ptrs, const int64_t* sizes, const int* order, int threads,
                            double* ss) {
  each(count, order, threads, [&](int i) {
    gather<false>(reinterpret_cast<const float*>(ptrs[i]), sizes[i], 0, nullptr, nullptr, ss + i);
  });
}
"""


@functools.cache
def _kernel(*flags: str) -> ctypes.CDLL | None:
    """The CPU kernel, built once per machine (and `flags`) into the user's cache, with OpenMP where the
    compiler has it; None, with a warning, without a compiler."""
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    tag = hashlib.sha1(f"{_KERNEL}{cxx}{platform.machine()}{flags}".encode()).hexdigest()[:12]
    path = user_cache() / f"stats-{tag}.so"
    if not path.exists():
        tmp = path.with_name(f"{path.name}.{os.getpid()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for openmp in (["-fopenmp"], []):   # Apple's clang, for one, has no -fopenmp
                done = subprocess.run([cxx or "c++", *openmp, "-O3", "-std=c++17", "-shared", "-fPIC", "-pthread",
                                       *flags, "-x", "c++", "-", "-o", str(tmp)],
                                      input=_KERNEL, text=True, capture_output=True, timeout=300)
                if done.returncode == 0:
                    break
            done.check_returncode()
            os.replace(tmp, path)
        except (OSError, subprocess.SubprocessError) as e:
            warnings.warn(f"reportgen.stats: no C++ kernel ({e}); CPU gradient statistics fall back to a "
                          "slow torch sort", RuntimeWarning)
            return None
    lib = ctypes.CDLL(str(path))
    ptr = ctypes.c_void_p
    lib.grad_stats.argtypes = [ctypes.c_int, ptr, ptr, ptr, ctypes.c_int, ptr, ptr, ptr, ptr]
    lib.sum_squares.argtypes = [ctypes.c_int, ptr, ptr, ptr, ctypes.c_int, ptr]
    return lib


@functools.lru_cache(maxsize=8)
def _order(sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    n = np.asarray(sizes, np.int64)
    return n, np.argsort(-n, kind="stable").astype(np.int32)


def _call(fn, grads: list[torch.Tensor], *args) -> np.ndarray:
    """Run a kernel entry on float32 copies only where a gradient is not one already (half, strided);
    args are numpy arrays or CPU tensors. Returns the sizes."""
    xs = [g if g.dtype == torch.float32 and g.is_contiguous() else g.detach().float().contiguous() for g in grads]
    sizes, order = _order(tuple(x.numel() for x in xs))
    ptrs = np.fromiter((x.data_ptr() for x in xs), np.uint64, len(xs))
    fn(len(xs), ptrs.ctypes.data, sizes.ctypes.data, order.ctypes.data, min(torch.get_num_threads(), len(xs)),
       *(a.ctypes.data if isinstance(a, np.ndarray) else a.data_ptr() for a in args))
    return sizes


def _cpu(grads: list[torch.Tensor], lib: ctypes.CDLL) -> tuple[torch.Tensor, ...]:
    s = len(grads)
    bits, zeros = torch.zeros(s, 5, dtype=torch.int32), torch.empty(s, dtype=torch.int64)
    ss = torch.empty(s, dtype=torch.float64)
    sizes = _call(lib.grad_stats, grads, np.asarray(PERCENTS, np.int32), bits, zeros, ss)
    return bits, zeros, torch.from_numpy(sizes), ss.sqrt()


@functools.lru_cache(maxsize=8)
def _layout(sizes: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """For the sort path: each element's tensor index << 31; per tensor that key, its start and size."""
    count = torch.tensor(sizes, device=device)
    first = torch.arange(len(sizes), device=device) << 31
    return (torch.repeat_interleave(first, count, output_size=sum(sizes)), first, count.cumsum(0) - count, count,
            torch.tensor(PERCENTS, device=device))


def _sorted(grads: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Any device, no host sync, a handful of launches: sort (tensor, |g| bits) keys, read the picks off."""
    flat = torch.cat([g.detach().reshape(-1) for g in grads]).float()
    sizes = [g.numel() for g in grads]
    tensor, first, start, count, percents = _layout(tuple(sizes), flat.device)
    key = ((flat.view(torch.int32) & 0x7FFFFFFF) | tensor).sort().values   # each tensor's zeros lead it
    zeros = torch.searchsorted(key, first | 1) - start
    at = (start + zeros).unsqueeze(1) + (count - zeros - 1).clamp(min=0).unsqueeze(1) * percents // 100
    bits = (key[at.clamp(max=key.numel() - 1)] & 0x7FFFFFFF).to(torch.int32)
    return bits, zeros, count, torch.stack(torch._foreach_norm(list(flat.split(sizes)), 2, dtype=torch.float64))


def _on_cpu(grads: list[torch.Tensor]) -> ctypes.CDLL | None:
    return _kernel() if grads[0].device.type == "cpu" else None


@torch.no_grad()
def grad_stats(grads: list[torch.Tensor]) -> torch.Tensor:
    """[len(grads), len(STATS)] float32 on the grads' device; nothing is read back to the host.

    median, q05..q95: log10|g| over the m non-zero entries, the order statistic of 0-based rank
    floor(p (m - 1) / 100) (numpy's method="lower"; "median" is then torch.median's lower middle and equal
    bit for bit to the talk's one-liner); NaN when m = 0. zero_frac: exact zeros / numel. l2: the tensor's
    L2 norm, summed in float64. A tensor holding a NaN is NaN in every column. Half and bfloat16 are
    read as float32."""
    if not grads:
        return torch.empty(0, len(STATS))
    lib = _on_cpu(grads)
    bits, zeros, count, l2 = _cpu(grads, lib) if lib else _sorted(grads)
    # log10 of the picks as one contiguous tensor: the same kernel, hence the same bits, as the one-liner's
    logs = bits.view(torch.float32).log10()[:, _COLUMN]
    table = torch.cat([logs, (zeros / count).unsqueeze(1), l2.float().unsqueeze(1)], 1)
    table[:, :5].masked_fill_((zeros == count).unsqueeze(1), float("nan"))
    return table.masked_fill_(l2.isnan().unsqueeze(1), float("nan"))


@torch.no_grad()
def global_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The unclipped L2 norm of the whole gradient (clip_grad_norm_'s total), summed in float64; 0-d
    float32 on the grads' device."""
    if not grads:
        return torch.zeros(())
    lib = _on_cpu(grads)
    if lib:
        ss = torch.empty(len(grads), dtype=torch.float64)
        _call(lib.sum_squares, grads, ss)
        return ss.sum().sqrt().float()
    norms = torch._foreach_norm([g.detach() for g in grads], 2, dtype=torch.float64)
    return torch.linalg.vector_norm(torch.stack(norms)).float()
