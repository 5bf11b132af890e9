// One Pre-LN decoder block:
//   u      = h + Attn( RMSNorm_1(h) * s )
//   h_next = u + FFN ( RMSNorm_2(u) * s )
// where s is the LayerNorm-scaling factor of the POSITION the block runs at
// (passed in, not stored: a swapped block takes its new position's factor).
#pragma once

#include <torch/torch.h>

#include "common/config.h"
#include "model/attention.h"
#include "model/feed_forward.h"
#include "model/moe.h"
#include "model/norm.h"
#include "model/probes.h"

namespace dlab {

struct BlockOutput {
  torch::Tensor h_next;          // (B, T, d)
  torch::Tensor attn_out;        // (B, T, d) attention branch before the residual add
  torch::Tensor mlp_out;         // (B, T, d) FFN/MoE branch before the residual add
  torch::Tensor attn_probs;      // (B, H, T, T) when ctx.want_probs
  torch::Tensor attn_stat_sums;  // (H, 2 + n_eps) when ctx.attn_stats_eps is set (fused attention)
  torch::Tensor router_logits;   // (B*T, E); undefined for a dense block
  MoeLayerStats moe;             // undefined tensors for a dense block
};

// With ctx.exec.kernels == Fused the norms, attention and FFN run the fused
// kernels; attention falls back to the reference when ctx.want_probs asks for
// the probabilities (the fused kernel never forms them).
class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const ModelConfig& cfg);
  BlockOutput forward(const torch::Tensor& h, double scale, const AttentionContext& ctx);

  RMSNorm input_layernorm{nullptr};
  Attention self_attn{nullptr};
  RMSNorm post_attention_layernorm{nullptr};
  // Exactly one of these is set; it is registered under the name "mlp".
  FeedForward ffn{nullptr};
  Moe moe{nullptr};
};
TORCH_MODULE(Block);

}  // namespace dlab
