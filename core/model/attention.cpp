#include "model/attention.h"

#include <cmath>

#include "model/norm.h"

namespace dlab {

AttentionContext attention_context(const ModelConfig& cfg, int64_t seq_len,
                                   const torch::TensorOptions& options, const ExecOptions& exec) {
  AttentionContext ctx;
  ctx.rope = rope_tables(seq_len, cfg.head_dim(), cfg.rope_theta, options);
  ctx.future = torch::ones({seq_len, seq_len}, options.dtype(torch::kBool)).triu(/*diagonal=*/1);
  ctx.exec = exec;
  return ctx;
}

AttentionImpl::AttentionImpl(const ModelConfig& cfg)
    : n_heads_(cfg.n_heads), n_kv_heads_(cfg.n_kv_heads), head_dim_(cfg.head_dim()) {
  const int64_t d = cfg.d_model;
  auto linear = [](int64_t in, int64_t out) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
  };
  q_proj = register_module("q_proj", linear(d, n_heads_ * head_dim_));
  k_proj = register_module("k_proj", linear(d, n_kv_heads_ * head_dim_));
  v_proj = register_module("v_proj", linear(d, n_kv_heads_ * head_dim_));
  o_proj = register_module("o_proj", linear(n_heads_ * head_dim_, d));
}

AttentionResult AttentionImpl::forward(const torch::Tensor& x, const AttentionContext& ctx) {
  const int64_t B = x.size(0), T = x.size(1);
  // (B, T, n*d_h) -> (B, n, T, d_h)
  auto heads = [&](const torch::Tensor& t, int64_t n) {
    return t.view({B, T, n, head_dim_}).transpose(1, 2);
  };
  torch::Tensor q = rope_apply(heads(q_proj(x), n_heads_), ctx.rope);     // (B, H, T, d_h)
  torch::Tensor k = rope_apply(heads(k_proj(x), n_kv_heads_), ctx.rope);  // (B, G, T, d_h)
  torch::Tensor v = heads(v_proj(x), n_kv_heads_);                        // (B, G, T, d_h)
  if (n_kv_heads_ != n_heads_) {
    // KV head g serves the consecutive query heads g*H/G .. (g+1)*H/G - 1.
    const int64_t group = n_heads_ / n_kv_heads_;
    k = k.repeat_interleave(group, /*dim=*/1);  // (B, H, T, d_h)
    v = v.repeat_interleave(group, /*dim=*/1);
  }
  const double scale = 1.0 / std::sqrt(double(head_dim_));
  const torch::Tensor scores =
      torch::matmul(q, k.transpose(-2, -1)).mul(scale).masked_fill(ctx.future, -INFINITY);
  // Softmax in float32 (or wider) even for half-precision activations.
  const torch::Tensor probs =
      torch::softmax(scores, /*dim=*/-1, compute_dtype(scores.scalar_type())).to(v.scalar_type());
  const torch::Tensor y = torch::matmul(probs, v);  // (B, H, T, d_h)
  return AttentionResult{o_proj(y.transpose(1, 2).reshape({B, T, n_heads_ * head_dim_})), probs};
}

AttentionResult AttentionImpl::forward_fused(const torch::Tensor& x, const AttentionContext& ctx) {
  const kernels::Precision p = ctx.exec.precision;
  // (B, T, (H + 2G) d_h): [q heads | k heads | v heads]
  torch::Tensor qkv = kernels::linear(x, {q_proj->weight, k_proj->weight, v_proj->weight}, p);
  qkv = kernels::rope_qk(qkv, ctx.rope.cos, ctx.rope.sin, n_heads_, n_kv_heads_);
  kernels::AttentionOutput a = kernels::attention(qkv, n_heads_, n_kv_heads_, ctx.attn_stats_eps);
  AttentionResult r;
  r.out = kernels::linear(a.out, {o_proj->weight}, p);  // (B, T, d)
  r.stat_sums = a.stat_sums;
  return r;
}

}  // namespace dlab
