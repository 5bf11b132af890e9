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
  const bool fused = ctx.exec.kernels == Kernels::Fused;
  auto norm = [&](RMSNorm& n, const torch::Tensor& t) {
    if (fused) return n->forward_fused(t, scale);
    return scale == 1.0 ? n(t) : n(t) * scale;
  };
  BlockOutput out;
  const torch::Tensor a = norm(input_layernorm, h);
  AttentionResult attn =
      fused && !ctx.want_probs ? self_attn->forward_fused(a, ctx) : self_attn->forward(a, ctx);
  out.attn_out = attn.out;
  out.attn_probs = attn.probs;
  out.attn_stat_sums = attn.stat_sums;
  const torch::Tensor u = h + attn.out;
  const torch::Tensor x = norm(post_attention_layernorm, u);
  if (moe) {
    MoeOutput m = moe->forward(x, ctx.exec);
    out.mlp_out = m.y;
    out.router_logits = m.router_logits;
    out.moe = m.stats;
  } else {
    out.mlp_out = fused ? ffn->forward_fused(x, ctx.exec.precision) : ffn->forward(x);
  }
  out.h_next = u + out.mlp_out;
  return out;
}

}  // namespace dlab
