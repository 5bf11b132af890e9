// The statistics kernels of stats_kernels.h. One warp per row (a token, or a
// query of one head): lanes stride over the row, each carries the shared
// per-row state of stats_math.h in float64, and the warp merges the lanes'
// states with shuffles. Per-block sums go to shared memory first, so each
// block adds to the global sums once.
#include <cuda_runtime.h>

#include <cstdio>
#include <vector>

#include "gpu/stats_kernels.h"
#include "gpu/stats_math.h"

namespace dlab::gpu {
namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 8;
constexpr int kMaxHeadDim = 256;
constexpr int kMaxProbes = 64;

__device__ double shfl_down(double v, int offset) {
  return __shfl_down_sync(0xffffffffu, v, offset);
}

// ---- token moments ----------------------------------------------------------

struct ProbeRows {
  const float* rows[kMaxProbes];
};

// grid (ceil(N / 8), n_probes), block 256: warp w of block x takes token x * 8 + w.
__global__ void token_moments_kernel(ProbeRows probes, int64_t N, int64_t d, double* out) {
  __shared__ double block_sum[2];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  if (threadIdx.x < 2) block_sum[threadIdx.x] = 0;
  __syncthreads();
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + warp;
  if (row < N) {
    const float* x = probes.rows[blockIdx.y] + row * d;
    const double shift = double(x[0]);
    PowerSums ps;
    for (int64_t c = lane; c < d; c += kWarp) power_sums_add(ps, double(x[c]) - shift);
    for (int offset = kWarp / 2; offset > 0; offset /= 2) {
      PowerSums other;
      other.n = shfl_down(ps.n, offset);
      other.s1 = shfl_down(ps.s1, offset);
      other.s2 = shfl_down(ps.s2, offset);
      other.s3 = shfl_down(ps.s3, offset);
      other.s4 = shfl_down(ps.s4, offset);
      power_sums_merge(ps, other);
    }
    if (lane == 0) {
      double variance, kurtosis;
      row_moments_finish(ps, &variance, &kurtosis);
      atomicAdd(&block_sum[0], variance);
      atomicAdd(&block_sum[1], kurtosis);
    }
  }
  __syncthreads();
  if (threadIdx.x < 2) atomicAdd(&out[2 * blockIdx.y + threadIdx.x], block_sum[threadIdx.x]);
}

// ---- attention statistics ---------------------------------------------------

struct AttnArgs {
  const float* q;
  const float* k;
  int64_t H, G, T, dh;
  double scale;
  int n_eps;
  double log_eps[kMaxAttnEps];
};

// Query i's score for key j; q_i sits in shared memory.
__device__ double score(const AttnArgs& a, const float* qi, const float* kh, int64_t j) {
  const float* kj = kh + j * a.dh;
  float dot = 0;
  for (int64_t c = 0; c < a.dh; ++c) dot = fmaf(qi[c], kj[c], dot);
  return a.scale * double(dot);
}

// grid (ceil(T / 8), B * H), block 256: warp w takes query blockIdx.x * 8 + w of
// (sequence, head) blockIdx.y. Two passes over the keys j <= i: the online
// softmax state (then H_i and lse_i), and the counts s_ij < lse_i + log eps.
__global__ void attention_stats_kernel(AttnArgs a, double* sums) {
  __shared__ float q_tile[kWarpsPerBlock][kMaxHeadDim];
  __shared__ double block_sum[kAttnStatFixed + kMaxAttnEps];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int width = kAttnStatFixed + a.n_eps;
  if (threadIdx.x < width) block_sum[threadIdx.x] = 0;
  const int64_t bh = blockIdx.y, h = bh % a.H, b = bh / a.H, g = h / (a.H / a.G);
  const int64_t i = int64_t(blockIdx.x) * kWarpsPerBlock + warp;
  const float* kh = a.k + (b * a.G + g) * a.T * a.dh;  // (T, dh)
  if (i < a.T) {
    const float* qi = a.q + (bh * a.T + i) * a.dh;
    for (int64_t c = lane; c < a.dh; c += kWarp) q_tile[warp][c] = qi[c];
  }
  __syncthreads();
  if (i >= 1 && i < a.T) {  // query 0 says nothing (METRICS.md §2)
    const float* qs = q_tile[warp];
    SoftmaxState st;
    for (int64_t j = lane; j <= i; j += kWarp) softmax_state_add(st, score(a, qs, kh, j));
    for (int offset = kWarp / 2; offset > 0; offset /= 2) {
      SoftmaxState other;
      other.m = shfl_down(st.m, offset);
      other.z = shfl_down(st.z, offset);
      other.w = shfl_down(st.w, offset);
      softmax_state_merge(st, other);
    }
    // Lane 0 holds the row's state; every lane needs lse for the counts.
    const double lse = __shfl_sync(0xffffffffu, softmax_state_lse(st), 0);
    double counts[kMaxAttnEps] = {};
    for (int64_t j = lane; j <= i; j += kWarp) {
      const double s = score(a, qs, kh, j);
      for (int e = 0; e < a.n_eps; ++e) counts[e] += s < lse + a.log_eps[e] ? 1.0 : 0.0;
    }
    for (int e = 0; e < a.n_eps; ++e) {
      for (int offset = kWarp / 2; offset > 0; offset /= 2)
        counts[e] += shfl_down(counts[e], offset);
    }
    if (lane == 0) {
      const double entropy = softmax_state_entropy(st);
      atomicAdd(&block_sum[0], entropy);
      atomicAdd(&block_sum[1], entropy / log(double(i + 1)));
      for (int e = 0; e < a.n_eps; ++e) atomicAdd(&block_sum[kAttnStatFixed + e], counts[e]);
    }
  }
  __syncthreads();
  if (threadIdx.x < width) atomicAdd(&sums[h * width + threadIdx.x], block_sum[threadIdx.x]);
}

int64_t blocks_for(int64_t rows) { return (rows + kWarpsPerBlock - 1) / kWarpsPerBlock; }

}  // namespace

int token_moment_sums(const float* const* rows, int n_probes, int64_t N, int64_t d, double* out,
                      void* stream) {
  if (n_probes < 1 || N < 1 || d < 2) return int(cudaErrorInvalidValue);
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  cudaError_t status = cudaMemsetAsync(out, 0, sizeof(double) * 2 * size_t(n_probes), s);
  // Probes in groups of kMaxProbes (a kernel argument holds their pointers).
  for (int p0 = 0; status == cudaSuccess && p0 < n_probes; p0 += kMaxProbes) {
    const int n = n_probes - p0 < kMaxProbes ? n_probes - p0 : kMaxProbes;
    ProbeRows probes{};
    for (int p = 0; p < n; ++p) probes.rows[p] = rows[p0 + p];
    const dim3 grid(unsigned(blocks_for(N)), unsigned(n));
    token_moments_kernel<<<grid, kWarp * kWarpsPerBlock, 0, s>>>(probes, N, d, out + 2 * p0);
    status = cudaGetLastError();
  }
  return int(status);
}

int attention_stat_sums(const float* q, const float* k, int64_t B, int64_t H, int64_t G, int64_t T,
                        int64_t dh, double scale, const double* log_eps, int n_eps, double* sums,
                        void* stream) {
  if (B < 1 || H < 1 || G < 1 || H % G != 0 || T < 2 || dh < 1 || dh > kMaxHeadDim || n_eps < 0 ||
      n_eps > kMaxAttnEps) {
    return int(cudaErrorInvalidValue);
  }
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  AttnArgs a{};
  a.q = q;
  a.k = k;
  a.H = H;
  a.G = G;
  a.T = T;
  a.dh = dh;
  a.scale = scale;
  a.n_eps = n_eps;
  for (int e = 0; e < n_eps; ++e) a.log_eps[e] = log_eps[e];
  const size_t width = size_t(kAttnStatFixed + n_eps);
  cudaError_t status = cudaMemsetAsync(sums, 0, sizeof(double) * width * size_t(H), s);
  if (status != cudaSuccess) return int(status);
  const dim3 grid(unsigned(blocks_for(T)), unsigned(B * H));
  attention_stats_kernel<<<grid, kWarp * kWarpsPerBlock, 0, s>>>(a, sums);
  return int(cudaGetLastError());
}

std::string cuda_error_text(int status) {
  const cudaError_t e = static_cast<cudaError_t>(status);
  return std::string(cudaGetErrorName(e)) + " (" + std::to_string(status) +
         "): " + cudaGetErrorString(e);
}

}  // namespace dlab::gpu
