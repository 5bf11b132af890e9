// SwiGLU feed-forward: down( silu(gate(x)) ⊙ up(x) ), no biases. Also the
// expert and shared-expert network of the MoE layer.
#pragma once

#include <torch/torch.h>

#include "kernels/fused_ops.h"

namespace dlab {

class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(int64_t d_model, int64_t d_hidden);
  torch::Tensor forward(const torch::Tensor& x);  // (..., d) -> (..., d)
  // The fused kernels: one product for gate and up, SwiGLU in one pass, down.
  torch::Tensor forward_fused(const torch::Tensor& x, kernels::Precision precision);

  torch::nn::Linear gate_proj{nullptr};  // (d_hidden, d)
  torch::nn::Linear up_proj{nullptr};    // (d_hidden, d)
  torch::nn::Linear down_proj{nullptr};  // (d, d_hidden)
};
TORCH_MODULE(FeedForward);

}  // namespace dlab
