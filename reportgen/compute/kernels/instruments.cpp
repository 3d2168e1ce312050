// The instruments' CPU passes, each one read of its data where torch takes several ops: the weights kept before
// an optimizer step and the norms of the step (update/weight ratios), and one activation layer's health.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "each.h"
#ifdef __SSE2__
#include <immintrin.h>
#endif
#if defined(__x86_64__) && defined(__linux__) && !defined(PLAIN)
#define WIDE __attribute__((target_clones("avx2", "default")))   // an AVX2 copy, picked at load where it runs
#else
#define WIDE
#endif

namespace {
constexpr int LANES = 8;   // independent sums: the additions overlap instead of waiting on each other

double total(const double* s) { return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); }

typedef float floats __attribute__((vector_size(16)));    // 4 lanes, as GCC and clang spell a SIMD register
typedef double doubles __attribute__((vector_size(32)));  // their 4 lanes widened

// dst = src, n floats, stored past the caches: they are read again only after the optimizer has swept them
void copy(float* dst, const float* src, int64_t n) {
#ifdef __SSE2__
  int64_t i = 0;
  for (; i < n && reinterpret_cast<uintptr_t>(dst + i) % 16; ++i) dst[i] = src[i];
  for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
  for (; i < n; ++i) dst[i] = src[i];
  _mm_sfence();
#else
  std::memcpy(dst, src, n * sizeof(float));
#endif
}

// Σ (w − v)², the difference rounded to float as torch's subtraction rounds it, and Σ v², over n entries; with
// Keep, v = w after (the next step's weights, kept in the same pass)
template <bool Keep>
WIDE void squares(const float* w, float* v, int64_t n, double* step, double* was) {
  doubles s[2] = {}, o[2] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 2; ++j) {
      floats a, b;
      std::memcpy(&a, w + i + 4 * j, sizeof a);
      std::memcpy(&b, v + i + 4 * j, sizeof b);
      doubles d = __builtin_convertvector(a - b, doubles), e = __builtin_convertvector(b, doubles);
      s[j] += d * d;
      o[j] += e * e;
      if (Keep) std::memcpy(v + i + 4 * j, &a, sizeof a);
    }
  double sum[LANES], old[LANES];
  std::memcpy(sum, s, sizeof sum);
  std::memcpy(old, o, sizeof old);
  for (; i < n; ++i) {
    double d = w[i] - v[i], b = v[i];
    sum[0] += d * d;
    old[0] += b * b;
    if (Keep) v[i] = w[i];
  }
  *step = total(sum);
  *was = total(old);
}

template <int Kind, bool Alive>   // Kind 1: tanh, 2: sigmoid, else no saturation; Alive: track positive units
WIDE void tally(const float* x, int64_t rows, int64_t cols, float limit, int64_t* zeros, int64_t* saturated,
           uint8_t* positive, uint8_t* nan) {
  const uint32_t* u = reinterpret_cast<const uint32_t*>(x);
  for (int64_t r = 0; r < rows; ++r) {
    uint32_t z = 0, s = 0;   // per row: narrow counters vectorise
    for (int64_t c = 0, i = r * cols; c < cols; ++c, ++i) {
      uint32_t a = u[i] & 0x7fffffffu;
      z += a == 0;
      if (Kind == 1) s += std::fabs(x[i]) > limit;
      if (Kind == 2) s += std::fabs(x[i] - 0.5f) > limit;
      if (Alive) {
        positive[c] |= x[i] > 0;
        nan[c] |= a > 0x7f800000u;
      }
    }
    *zeros += z;
    *saturated += s;
  }
}

// The ((m - 1) / 2)-th smallest of the m non-zero |x| at x[0], x[stride]… below n, as bits (for floats >= 0
// they order as the values, a NaN last), NaN when m = 0: a histogram of their top bits finds the bin holding
// it, nth_element finishes among that bin's few (on all of them it mispredicts every other comparison).
float median(const uint32_t* u, int64_t n, int64_t stride) {
  constexpr int SHIFT = 20;   // 2^11 bins: 8 per binade
  std::vector<uint32_t> v((n + stride - 1) / stride);
  int64_t m = 0;
  for (int64_t i = 0; i < n; i += stride) {   // branch-free: ReLU's zeros come at random
    uint32_t a = u[i] & 0x7fffffffu;
    v[m] = a;
    m += a != 0;
  }
  if (!m) return std::numeric_limits<float>::quiet_NaN();
  uint32_t h[1 << (31 - SHIFT)] = {};
  for (int64_t j = 0; j < m; ++j) h[v[j] >> SHIFT]++;
  int64_t k = (m - 1) / 2, kept = 0;
  uint32_t bin = 0;
  for (; k >= h[bin]; k -= h[bin++]) {}
  for (int64_t j = 0; j < m; ++j) {
    v[kept] = v[j];
    kept += v[j] >> SHIFT == bin;
  }
  std::nth_element(v.begin(), v.begin() + k, v.begin() + kept);
  float f;
  std::memcpy(&f, &v[k], sizeof f);
  return f;
}
}  // namespace

// Before the step: saved[t] = w[t], per tensor t.
extern "C" void keep(int count, const uint64_t* ptrs, const int64_t* sizes, const int* order, int threads,
                     const uint64_t* saved) {
  each(count, order, threads, [&](int t) {
    copy(reinterpret_cast<float*>(saved[t]), reinterpret_cast<const float*>(ptrs[t]), sizes[t]);
  });
}

// After it, in one read of both: step[t] = Σ (w[t] − saved[t])² and was[t] = Σ saved[t]²; with keep, then
// saved[t] = w[t], for the next step.
extern "C" void step_squares(int count, const uint64_t* ptrs, const int64_t* sizes, const int* order, int threads,
                             const uint64_t* saved, double* step, double* was, int keep) {
  each(count, order, threads, [&](int t) {
    auto w = reinterpret_cast<const float*>(ptrs[t]);
    auto v = reinterpret_cast<float*>(saved[t]);
    (keep ? squares<true> : squares<false>)(w, v, sizes[t], step + t, was + t);
  });
}

// One layer's output x, rows × cols (rows: the batch): out[0] the median |x| (the lower middle) over the
// non-zero entries among x[0], x[stride], x[2 stride]…, NaN when there are none; out[1] the fraction of exact
// zeros; out[2] the fraction saturated: |x| > limit (kind 1: tanh), |x − ½| > limit (kind 2: sigmoid), else NaN.
// alive, when given (kind 0): alive[c] |= (max over the rows of x[·, c]) > 0, a NaN making it NaN, as torch's amax.
extern "C" void health(const float* x, int64_t rows, int64_t cols, int64_t stride, int kind, float limit,
                       float* out, uint8_t* alive) {
  const int64_t n = rows * cols;
  const uint32_t* u = reinterpret_cast<const uint32_t*>(x);
  out[0] = median(u, n, stride);
  int64_t zeros = 0, saturated = 0;
  std::vector<uint8_t> positive(alive ? cols : 0), nan(alive ? cols : 0);
  auto go = alive ? tally<0, true> : kind == 1 ? tally<1, false> : kind == 2 ? tally<2, false> : tally<0, false>;
  go(x, rows, cols, limit, &zeros, &saturated, positive.data(), nan.data());
  out[1] = float(zeros) / float(n);
  out[2] = kind ? float(saturated) / float(n) : std::numeric_limits<float>::quiet_NaN();
  for (int64_t c = 0; alive && c < cols; ++c) alive[c] |= positive[c] && !nan[c];
}
