// Named probe points of the forward pass. LibTorch C++ modules have no forward
// hooks, so every point the lab observes is recorded explicitly by
// TransformerImpl::forward when its bit is set in ProbeRequest::mask; with an
// empty mask nothing beyond the logits and the auxiliary loss is kept.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace dlab {

enum ProbeMask : uint32_t {
  kProbeNone = 0,
  kProbeResidPre = 1,       // hidden states h_i entering each position (fills `hidden`)
  kProbeAttnOut = 2,        // attention branch output before the residual add
  kProbeMlpOut = 4,         // FFN / MoE branch output before the residual add
  kProbeResidPost = 8,      // hidden states h_{i+1} leaving each position (fills `hidden`)
  kProbeAttnProbs = 16,     // causal softmax probabilities (B, H, T, T)
  kProbeRouterLogits = 32,  // MoE router logits (B*T, E)
  kProbeFinalNorm = 64,     // RMSNorm_f(h_L)
  // Attention statistics (METRICS.md §2) at the thresholds attn_stats_eps: the
  // fused kernels reduce them in their own pass (fills attn_stat_sums); the
  // reference kernels form the probabilities instead (fills attn_probs).
  kProbeAttnStats = 128,
};

struct ProbeRequest {
  uint32_t mask = kProbeNone;
  bool detach = true;  // detach recorded tensors (training statistics); false keeps the graph
                       // (Jacobians and other analyses that differentiate through a probe)
  std::vector<double> attn_stats_eps;  // with kProbeAttnStats
};

// Statistics of one MoE layer, kept for every position that ran an MoE block
// (they are by-products of the auxiliary loss, so they cost nothing extra).
struct MoeLayerStats {
  torch::Tensor expert_fraction;  // (E) f_e = count_e / (k N): fraction of routed slots per expert
  torch::Tensor lb_loss;          // scalar LB = E * sum_e f_e P_e
  torch::Tensor z_loss;           // scalar Z = mean_t logsumexp(r_t)^2
};

// Per-position vectors are indexed by POSITION (0..L-1) and `hidden` by
// hidden-state index (0..L). An entry is an undefined tensor where nothing was
// computed: positions before `start` in forward_from, branch outputs of a
// position whose plan entry is Skip or Linear, router data of a dense block.
struct ForwardOutput {
  torch::Tensor logits;               // (B, T, V); undefined from forward_loss under fused kernels
  torch::Tensor loss;                 // scalar mean LM cross-entropy, from forward_loss only
  torch::Tensor aux_loss;             // scalar, always defined; zero for dense models
  std::vector<torch::Tensor> hidden;  // h_0..h_L (L+1 entries) with ResidPre/ResidPost, (B, T, d)
  std::vector<torch::Tensor> attn_out;        // per position (B, T, d) with AttnOut
  std::vector<torch::Tensor> mlp_out;         // per position (B, T, d) with MlpOut
  std::vector<torch::Tensor> attn_probs;      // per position (B, H, T, T) with AttnProbs (and
                                              // with AttnStats under the reference kernels)
  std::vector<torch::Tensor> attn_stat_sums;  // per position (H, 2 + n_eps) float64 with AttnStats
                                              // under the fused kernels (kernels::attention)
  std::vector<torch::Tensor> router_logits;   // per position (B*T, E) with RouterLogits; float32
                                              // (float64 when the model runs in float64)
  torch::Tensor final_norm;                   // RMSNorm_f(h_L) (B, T, d) with FinalNorm
  std::vector<MoeLayerStats> moe;             // per position when the model is MoE (L entries)
};

}  // namespace dlab
