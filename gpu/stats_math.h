// The per-row arithmetic of the streaming statistics (METRICS.md §2), shared by
// the CUDA kernels (gpu/stats_kernels.cu) and their CPU reference
// (core/metrics/row_stats.cpp), so the arithmetic is tested on every machine
// even where no kernel can be launched. Plain C++ with no dependencies:
// __host__ __device__ under nvcc, ordinary inline functions otherwise.
//
// Everything accumulates in float64.
#pragma once

#include <math.h>

#if defined(__CUDACC__)
#define DEPTHLAB_HD __host__ __device__
#else
#define DEPTHLAB_HD
#endif

namespace dlab::gpu {

// ---- moments of one row (a token's d channels) ------------------------------
//
// Power sums of y = x - shift, shift = the row's first value: a constant row
// becomes exact zeros and hits the s == 0 rule instead of reporting the
// kurtosis of rounding noise. Sums with the same shift merge by addition, so a
// warp (or a vector loop) can split a row and add its partial sums.
struct PowerSums {
  double n = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0;
};

DEPTHLAB_HD inline void power_sums_add(PowerSums& p, double y) {
  const double y2 = y * y;
  p.n += 1;
  p.s1 += y;
  p.s2 += y2;
  p.s3 += y2 * y;
  p.s4 += y2 * y2;
}

DEPTHLAB_HD inline void power_sums_merge(PowerSums& a, const PowerSums& b) {
  a.n += b.n;
  a.s1 += b.s1;
  a.s2 += b.s2;
  a.s3 += b.s3;
  a.s4 += b.s4;
}

// Central moment sums m2 = sum (x-mu)^2 and m4 = sum (x-mu)^4 from the power
// sums about a shift, delta = mu - shift.
DEPTHLAB_HD inline void power_sums_central(const PowerSums& p, double delta, double* m2,
                                           double* m4) {
  const double d2 = delta * delta;
  *m2 = p.s2 - 2 * delta * p.s1 + p.n * d2;
  *m4 = p.s4 - 4 * delta * p.s3 + 6 * d2 * p.s2 - 4 * d2 * delta * p.s1 + p.n * d2 * d2;
  if (*m2 < 0) *m2 = 0;  // rounding of an (almost) constant sample
  if (*m4 < 0) *m4 = 0;
}

// mean((x-mu)^4) / s^4 with s^2 = m2 / (n-1) the unbiased variance; 3 when s == 0.
DEPTHLAB_HD inline double kurtosis_from_central(double m2, double m4, double n) {
  const double s2 = m2 / (n - 1);
  return s2 == 0 ? 3.0 : (m4 / n) / (s2 * s2);
}

// A row's unbiased variance and kurtosis from its power sums (n >= 2).
DEPTHLAB_HD inline void row_moments_finish(const PowerSums& p, double* variance, double* kurtosis) {
  double m2, m4;
  power_sums_central(p, p.s1 / p.n, &m2, &m4);
  *variance = m2 / (p.n - 1);
  *kurtosis = kurtosis_from_central(m2, m4, p.n);
}

// ---- one causal attention row, online ---------------------------------------
//
// For query i the scores s_j (j <= i) arrive in any order, tile by tile. The
// state keeps m = max s_j, z = sum exp(s_j - m) and w = sum exp(s_j - m)(s_j - m),
// rescaled when m grows (the FlashAttention recurrence). Then
//   lse = m + log z,   A_ij = exp(s_j - lse),
//   H_i = -sum A_ij log A_ij = log z - w / z,
// and A_ij < eps exactly when s_j < lse + log eps: a second pass over the
// scores counts the sparsity without forming a single probability.
struct SoftmaxState {
  double m = -INFINITY, z = 0, w = 0;
};

DEPTHLAB_HD inline void softmax_state_add(SoftmaxState& st, double s) {
  if (st.z == 0) {  // the first score (m = -inf: no arithmetic with it)
    st.m = s;
    st.z = 1;
    st.w = 0;
  } else if (s > st.m) {
    const double a = exp(st.m - s);  // the old terms, rescaled to the new max
    st.w = a * (st.w + (st.m - s) * st.z);
    st.z = a * st.z + 1;  // the new term: exp(0) = 1, (s - m) = 0
    st.m = s;
  } else {
    const double e = exp(s - st.m);
    st.z += e;
    st.w += e * (s - st.m);
  }
}

DEPTHLAB_HD inline void softmax_state_merge(SoftmaxState& a, const SoftmaxState& b) {
  if (b.z == 0) return;
  if (a.z == 0) {
    a = b;
    return;
  }
  const double m = a.m > b.m ? a.m : b.m;
  const double ea = exp(a.m - m), eb = exp(b.m - m);
  a.w = ea * (a.w + (a.m - m) * a.z) + eb * (b.w + (b.m - m) * b.z);
  a.z = ea * a.z + eb * b.z;
  a.m = m;
}

DEPTHLAB_HD inline double softmax_state_lse(const SoftmaxState& st) { return st.m + log(st.z); }

DEPTHLAB_HD inline double softmax_state_entropy(const SoftmaxState& st) {
  return log(st.z) - st.w / st.z;
}

// The per-head sums the attention statistics are made of, in the order of
// kernels::attention's in-pass statistics (metrics/attention_stats.h):
// [sum_i H_i, sum_i H_i / log(i+1), count(A_ij < eps_0), count(A_ij < eps_1), ...]
// over queries i >= 1.
constexpr int kAttnStatFixed = 2;
constexpr int kMaxAttnEps = 8;

}  // namespace dlab::gpu
