// Causal self-attention with grouped key/value heads and RoPE. The reference
// computes it explicitly (scores, mask, softmax, @V) so that the probabilities
// can be probed; the fused path (kernels::attention) never forms them and
// reduces the attention statistics in its own pass instead.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "common/config.h"
#include "model/exec_options.h"
#include "model/rope.h"

namespace dlab {

// What every block of one forward pass shares: RoPE tables, the causal mask,
// how to compute and what to record.
struct AttentionContext {
  RopeTables rope;
  torch::Tensor future;  // (T, T) bool, true above the diagonal (key after query)
  ExecOptions exec;
  bool want_probs = false;             // form and return the (B, H, T, T) probabilities
  std::vector<double> attn_stats_eps;  // non-empty: reduce the attention statistics (fused)
};

// Tables for sequences of length `seq_len`, in the dtype/device of `options`.
AttentionContext attention_context(const ModelConfig& cfg, int64_t seq_len,
                                   const torch::TensorOptions& options,
                                   const ExecOptions& exec = {});

struct AttentionResult {
  torch::Tensor out;        // (B, T, d) after o_proj
  torch::Tensor probs;      // (B, H, T, T), rows sum to 1, zero above the diagonal; reference only
  torch::Tensor stat_sums;  // (H, 2 + n_eps) float64 (kernels::attention); fused with stats only
};

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const ModelConfig& cfg);
  AttentionResult forward(const torch::Tensor& x /* (B, T, d) */, const AttentionContext& ctx);
  // The fused path: one product for q, k, v, RoPE in one pass, tiled attention.
  AttentionResult forward_fused(const torch::Tensor& x /* (B, T, d) */,
                                const AttentionContext& ctx);

  torch::nn::Linear q_proj{nullptr};  // (H*d_h, d)
  torch::nn::Linear k_proj{nullptr};  // (G*d_h, d)
  torch::nn::Linear v_proj{nullptr};  // (G*d_h, d)
  torch::nn::Linear o_proj{nullptr};  // (d, H*d_h)

 private:
  int64_t n_heads_, n_kv_heads_, head_dim_;
};
TORCH_MODULE(Attention);

}  // namespace dlab
