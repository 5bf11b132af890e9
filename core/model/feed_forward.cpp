#include "model/feed_forward.h"

namespace dlab {

namespace {
torch::nn::LinearOptions no_bias(int64_t in, int64_t out) {
  return torch::nn::LinearOptions(in, out).bias(false);
}
}  // namespace

FeedForwardImpl::FeedForwardImpl(int64_t d_model, int64_t d_hidden) {
  gate_proj = register_module("gate_proj", torch::nn::Linear(no_bias(d_model, d_hidden)));
  up_proj = register_module("up_proj", torch::nn::Linear(no_bias(d_model, d_hidden)));
  down_proj = register_module("down_proj", torch::nn::Linear(no_bias(d_hidden, d_model)));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

torch::Tensor FeedForwardImpl::forward_fused(const torch::Tensor& x, kernels::Precision precision) {
  const torch::Tensor gu = kernels::linear(x, {gate_proj->weight, up_proj->weight}, precision);
  return kernels::linear(kernels::swiglu(gu), {down_proj->weight}, precision);  // (..., d)
}

}  // namespace dlab
