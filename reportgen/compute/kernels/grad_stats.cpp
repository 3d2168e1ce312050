// Per tensor: a histogram of the top bits of the non-zero |g| (the bits of a float >= 0 order like its
// value), then one vectorised pass for the sum of squares and the entries of the few bins the picks fall
// in, where nth_element finishes. Tensors share out over threads as each.h says.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "each.h"
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
