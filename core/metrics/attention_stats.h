// Sparsity and entropy of causal attention probabilities (METRICS.md §2).
#pragma once

#include <torch/types.h>

#include <vector>

namespace dlab {

// Only causal entries of queries i >= 1 count (query 0 attends to itself with
// probability 1 and says nothing); entries above the diagonal are ignored
// whatever they hold.
struct AttentionStats {
  std::vector<double> eps;  // the thresholds, as passed
  std::vector<double>
      sparsity;        // [eps] fraction of causal entries (j <= i, i >= 1) with A_ij < eps
  double entropy = 0;  // H_i = -sum_{j<=i} A_ij log A_ij (nats), mean over sequences, heads, i >= 1
  double entropy_normalized = 0;                   // H_i / log(i+1), same mean
  std::vector<std::vector<double>> head_sparsity;  // [head][eps]
  std::vector<double> head_entropy;                // [head], mean over sequences and i >= 1
  std::vector<double> head_entropy_normalized;     // [head]
};

// probs: (B, H, T, T) softmax probabilities, query index before key index;
// T >= 2. Read as float32, no gradient kept.
AttentionStats attention_stats(const torch::Tensor& probs,
                               const std::vector<double>& eps = {1e-3, 1e-2, 1e-1});

// The same statistics from the per-head sums the fused attention reduces in its
// own pass (kernels::attention with stats_eps) over B sequences of T tokens:
// sums (H, 2 + n_eps) float64 = [sum_i H_i, sum_i H_i / log(i+1), count per eps].
AttentionStats attention_stats_from_sums(const torch::Tensor& sums, int64_t B, int64_t T,
                                         const std::vector<double>& eps);

}  // namespace dlab
