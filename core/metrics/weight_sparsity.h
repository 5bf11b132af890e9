// Sparsity and magnitude histogram of the block weight matrices
// (METRICS.md §2): attention, FFN, expert and router matrices; not
// embeddings, norms or the LM head.
#pragma once

#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

namespace dlab {

// True for Hugging Face names model.layers.{i}.self_attn.*.weight and
// model.layers.{i}.mlp.*.weight (the tensor must also be 2-D to count; the
// caller or weight_sparsity checks that).
bool is_block_weight(const std::string& hf_name);

// The block number i of a name starting with model.layers.{i}., else -1.
int block_index(const std::string& hf_name);

struct WeightSparsity {
  std::vector<double> eps;                     // the thresholds, as passed
  std::vector<std::vector<double>> per_block;  // [block][eps] fraction of entries with |w| < eps
  std::vector<double> overall;                 // [eps] over all block weight entries
  std::vector<double> hist_edges;   // hist_bins + 1 edges of log10 |w|, hist_lo .. hist_hi
  std::vector<double> hist_counts;  // [hist_bins] entries per bin; zeros and values below
                                    // hist_lo go to the first bin, values above hist_hi to the last
};

// Walks named_params, keeps the 2-D tensors with is_block_weight(name), and
// counts them into their block. A block without any matrix gets NaN
// fractions. Throws dlab::Error for a block index >= n_layers or a bad
// histogram range. fused: each tensor in one pass (kernels::magnitude_counts;
// float32 weights), else plain ATen operations; the same counts.
WeightSparsity weight_sparsity(
    const std::vector<std::pair<std::string, torch::Tensor>>& named_params, int n_layers,
    const std::vector<double>& eps = {1e-4, 1e-3, 1e-2}, int hist_bins = 40, double hist_lo = -8,
    double hist_hi = 1, bool fused = false);

}  // namespace dlab
