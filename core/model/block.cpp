#include "model/block.h"

namespace dlab {

BlockImpl::BlockImpl(const ModelConfig& cfg) {
  input_layernorm = register_module("input_layernorm", RMSNorm(cfg.d_model, cfg.norm_eps));
  self_attn = register_module("self_attn", Attention(cfg));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(cfg.d_model, cfg.norm_eps));
  if (cfg.is_moe()) {
    moe = register_module("mlp", Moe(cfg));
  } else {
    ffn = register_module("mlp", FeedForward(cfg.d_model, cfg.d_ff));
  }
}

BlockOutput BlockImpl::forward(const torch::Tensor& h, double scale, const AttentionContext& ctx) {
  auto scaled = [scale](const torch::Tensor& t) { return scale == 1.0 ? t : t * scale; };
  BlockOutput out;
  AttentionResult attn = self_attn->forward(scaled(input_layernorm(h)), ctx);
  out.attn_out = attn.out;
  out.attn_probs = attn.probs;
  const torch::Tensor u = h + attn.out;
  const torch::Tensor x = scaled(post_attention_layernorm(u));
  if (moe) {
    MoeOutput m = moe->forward(x);
    out.mlp_out = m.y;
    out.router_logits = m.router_logits;
    out.moe = m.stats;
  } else {
    out.mlp_out = ffn->forward(x);
  }
  out.h_next = u + out.mlp_out;
  return out;
}

}  // namespace dlab
