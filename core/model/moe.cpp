#include "model/moe.h"

#include "model/autocast.h"
#include "model/norm.h"

namespace dlab {

MoeImpl::MoeImpl(const ModelConfig& cfg) : n_experts_(cfg.moe.n_experts), top_k_(cfg.moe.top_k) {
  const int64_t d = cfg.d_model;
  const int64_t d_expert = cfg.moe.d_expert > 0 ? cfg.moe.d_expert : cfg.d_ff;
  gate = register_module("gate",
                         torch::nn::Linear(torch::nn::LinearOptions(d, n_experts_).bias(false)));
  experts = register_module("experts", torch::nn::ModuleList());
  for (int64_t e = 0; e < n_experts_; ++e) {
    expert_list_.push_back(FeedForward(d, d_expert));
    experts->push_back(expert_list_.back());
  }
  if (cfg.moe.n_shared_experts > 0) {
    shared_expert = register_module("shared_expert", FeedForward(d, d_expert));
  }
}

MoeOutput MoeImpl::forward(const torch::Tensor& x, const ExecOptions& exec) {
  const int64_t B = x.size(0), T = x.size(1), d = x.size(2), N = B * T;
  const torch::Tensor flat = x.reshape({N, d});  // (N, d)
  const torch::ScalarType ct = compute_dtype(x.scalar_type());
  const bool fused = exec.kernels == Kernels::Fused;
  auto expert = [&](FeedForward& f, const torch::Tensor& in) {
    return fused ? f->forward_fused(in, exec.precision) : f->forward(in);
  };

  torch::Tensor logits, probs;
  {
    const AutocastOff no_autocast;  // the router stays in float32 under train.precision = bf16
    logits = torch::linear(flat.to(ct), gate->weight.to(ct));  // (N, E)
    probs = torch::softmax(logits, /*dim=*/-1);                // (N, E)
  }
  const auto [top_p, top_idx] = probs.topk(top_k_, /*dim=*/-1);  // (N, k) each

  // Dispatch per expert: gather its tokens, run it once, scatter-add back.
  torch::Tensor y = torch::zeros_like(flat);
  for (int64_t e = 0; e < n_experts_; ++e) {
    const torch::Tensor slots = (top_idx == e).nonzero();  // (n_e, 2): (token, slot)
    if (slots.size(0) == 0) continue;
    const torch::Tensor tokens = slots.select(1, 0);
    const torch::Tensor weight = top_p.index({tokens, slots.select(1, 1)});  // (n_e)
    const torch::Tensor out = expert(expert_list_[size_t(e)], flat.index_select(0, tokens));
    y = y.index_add(0, tokens, out * weight.to(out.scalar_type()).unsqueeze(1));
  }
  if (shared_expert) {
    const double k = double(top_k_);
    y = expert(shared_expert, flat) / (k + 1.0) + y * (k / (k + 1.0));
  }

  MoeOutput result;
  result.y = y.view({B, T, d});
  result.router_logits = logits;
  // f_e counts routed slots; it is piecewise constant, so LB's gradient flows through P_e only.
  const torch::Tensor counts = torch::bincount(top_idx.reshape({-1}), /*weights=*/{}, n_experts_);
  const torch::Tensor f = counts.to(ct) / double(top_k_ * N);  // (E)
  const torch::Tensor P = probs.mean(/*dim=*/0);               // (E)
  result.stats.expert_fraction = f;
  result.stats.lb_loss = double(n_experts_) * (f * P).sum();
  result.stats.z_loss = torch::logsumexp(logits, /*dim=*/-1).pow(2).mean();
  return result;
}

}  // namespace dlab
