// The instruments' CPU passes, each one read of its data where torch takes several ops: the weights kept before
// an optimizer step and the norms of the step (update/weight ratios), and one activation layer's health.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "each.h"
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

// Σ (w − v)², the difference rounded to float as torch's subtraction rounds it, and Σ v², over n entries
WIDE void squares(const float* w, const float* v, int64_t n, double* step, double* was) {
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
    }
  double sum[LANES], old[LANES];
  std::memcpy(sum, s, sizeof sum);
  std::memcpy(old, o, sizeof old);
  for (; i < n; ++i) {
    double d = w[i] - v[i], b = v[i];
    sum[0] += d * d;
    old[0] += b * b;
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
}  // namespace

// Before the step: saved[t] = w[t], per tensor t.
extern "C" void keep(int count, const uint64_t* ptrs, const int64_t* sizes, const int* order, int threads,
                     const uint64_t* saved) {
  each(count, order, threads, [&](int t) {
    std::memcpy(reinterpret_cast<float*>(saved[t]), reinterpret_cast<const float*>(ptrs[t]), sizes[t] * sizeof(float));
  });
}

// After it, in one read of both: step[t] = Σ (w[t] − saved[t])² and was[t] = Σ saved[t]².
extern "C" void step_squares(int count, const uint64_t* ptrs, const int64_t* sizes, const int* order, int threads,
                             const uint64_t* saved, double* step, double* was) {
  each(count, order, threads, [&](int t) {
    squares(reinterpret_cast<const float*>(ptrs[t]), reinterpret_cast<const float*>(saved[t]), sizes[t], step + t, was + t);
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
  std::vector<uint32_t> sample;   // |x| as bits: for floats >= 0 they order as the values, a NaN last
  sample.reserve(n / stride + 1);
  for (int64_t i = 0; i < n; i += stride)
    if (uint32_t a = u[i] & 0x7fffffffu) sample.push_back(a);
  if (sample.empty()) {
    out[0] = std::numeric_limits<float>::quiet_NaN();
  } else {
    auto mid = sample.begin() + (sample.size() - 1) / 2;
    std::nth_element(sample.begin(), mid, sample.end());
    std::memcpy(out, &*mid, sizeof(float));
  }
  int64_t zeros = 0, saturated = 0;
  std::vector<uint8_t> positive(alive ? cols : 0), nan(alive ? cols : 0);
  auto go = alive ? tally<0, true> : kind == 1 ? tally<1, false> : kind == 2 ? tally<2, false> : tally<0, false>;
  go(x, rows, cols, limit, &zeros, &saturated, positive.data(), nan.data());
  out[1] = float(zeros) / float(n);
  out[2] = kind ? float(saturated) / float(n) : std::numeric_limits<float>::quiet_NaN();
  for (int64_t c = 0; alive && c < cols; ++c) alive[c] |= positive[c] && !nan[c];
}
