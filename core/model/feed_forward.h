// SwiGLU feed-forward: down( silu(gate(x)) ⊙ up(x) ), no biases. Also the
// expert and shared-expert network of the MoE layer.
#pragma once

#include <torch/torch.h>

namespace dlab {

class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(int64_t d_model, int64_t d_hidden);
  torch::Tensor forward(const torch::Tensor& x);  // (..., d) -> (..., d)

  torch::nn::Linear gate_proj{nullptr};  // (d_hidden, d)
  torch::nn::Linear up_proj{nullptr};    // (d_hidden, d)
  torch::nn::Linear down_proj{nullptr};  // (d, d_hidden)
};
TORCH_MODULE(FeedForward);

}  // namespace dlab
