// The statistics of METRICS.md §2 computed row by row with the arithmetic of
// gpu/stats_math.h, the same functions the CUDA kernels call: on CPU tensors
// this is the reference the kernels are tested against (tests/gpu), on CUDA
// tensors (a CUDA LibTorch built with DEPTHLAB_CUDA) it launches the kernels.
//
// Neither function forms the (B, H, T, T) probabilities or a (N, d) copy.
#pragma once

#include <torch/types.h>

#include <vector>

namespace dlab {

// Per token across the d channels, averaged over the tokens: the unbiased
// variance and the kurtosis mean((x-mu)^4)/s^4 (3 when s = 0). The same
// numbers as token_variance() and kurtosis_stats().token_mean
// (metrics/residual_stats.h). h: (B, T, d) or (N, d), float32; d >= 2.
struct TokenMoments {
  double variance = 0;
  double kurtosis = 0;
};
TokenMoments token_moments(const torch::Tensor& h);

// Whether token_moments and attention_stat_sums_qk run `t` in the gpu/ kernels
// (a CUDA tensor in a DEPTHLAB_CUDA build); false on the CPU.
bool row_stats_on_kernels(const torch::Tensor& t);

// The per-head attention sums that attention_stats_from_sums() turns into an
// AttentionStats, straight from queries and keys: for every query i >= 1 of
// every sequence, the softmax over S_ij = scale * q_i . k_j (j <= i) is formed
// online, key by key, and then
//   sums[h] = [sum_i H_i, sum_i H_i / log(i+1), count(A_ij < eps_e) per e].
// q: (B, H, T, dh), k: (B, G, T, dh) float32 after RoPE, H % G == 0 (query
// head h reads key head h / (H / G)); T >= 2, at most 8 thresholds.
// Returns (H, 2 + n_eps) float64 on the CPU.
torch::Tensor attention_stat_sums_qk(const torch::Tensor& q, const torch::Tensor& k, double scale,
                                     const std::vector<double>& eps);

}  // namespace dlab
