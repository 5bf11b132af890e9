// Causal self-attention with grouped key/value heads and RoPE, computed
// explicitly (scores, mask, softmax, @V) so that the probabilities can be probed.
#pragma once

#include <torch/torch.h>

#include "common/config.h"
#include "model/rope.h"

namespace dlab {

// What every block of one forward pass shares: RoPE tables and the causal mask.
struct AttentionContext {
  RopeTables rope;
  torch::Tensor future;  // (T, T) bool, true above the diagonal (key after query)
};

// Tables for sequences of length `seq_len`, in the dtype/device of `options`.
AttentionContext attention_context(const ModelConfig& cfg, int64_t seq_len,
                                   const torch::TensorOptions& options);

struct AttentionResult {
  torch::Tensor out;    // (B, T, d) after o_proj
  torch::Tensor probs;  // (B, H, T, T), rows sum to 1, zero above the diagonal
};

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const ModelConfig& cfg);
  AttentionResult forward(const torch::Tensor& x /* (B, T, d) */, const AttentionContext& ctx);

  torch::nn::Linear q_proj{nullptr};  // (H*d_h, d)
  torch::nn::Linear k_proj{nullptr};  // (G*d_h, d)
  torch::nn::Linear v_proj{nullptr};  // (G*d_h, d)
  torch::nn::Linear o_proj{nullptr};  // (d, H*d_h)

 private:
  int64_t n_heads_, n_kv_heads_, head_dim_;
};
TORCH_MODULE(Attention);

}  // namespace dlab
