// Top-k mixture-of-experts FFN, paper convention:
//   r = W_r x (float32 or wider), p = softmax(r) over E experts,
//   y = Σ_{e ∈ topk(p)} p_e · Expert_e(x)       (top-k probabilities NOT renormalised)
//   with a shared expert S:  y = S(x)/(k+1) + y · k/(k+1)
// and the per-layer auxiliary losses over the layer's N tokens:
//   LB = E · Σ_e f_e P_e,  f_e = count_e / (k N),  P_e = mean_t p_{t,e}
//   Z  = mean_t (logsumexp_e r_{t,e})^2
#pragma once

#include <torch/torch.h>

#include <vector>

#include "common/config.h"
#include "model/exec_options.h"
#include "model/feed_forward.h"
#include "model/probes.h"

namespace dlab {

struct MoeOutput {
  torch::Tensor y;              // (B, T, d)
  torch::Tensor router_logits;  // (B*T, E) in compute_dtype (float32 or float64)
  MoeLayerStats stats;          // lb_loss and z_loss carry gradients
};

class MoeImpl : public torch::nn::Module {
 public:
  explicit MoeImpl(const ModelConfig& cfg);
  // Experts run the fused kernels under Kernels::Fused; the router is always
  // computed in float32 (outside any bf16 autocast).
  MoeOutput forward(const torch::Tensor& x /* (B, T, d) */, const ExecOptions& exec = {});

  torch::nn::Linear gate{nullptr};     // router (E, d)
  torch::nn::ModuleList experts;       // E × FeedForward
  FeedForward shared_expert{nullptr};  // null without a shared expert

 private:
  int64_t n_experts_, top_k_;
  std::vector<FeedForward> expert_list_;  // typed view of `experts`
};
TORCH_MODULE(Moe);

}  // namespace dlab
