// RMSNorm and the precision rule shared by the numerically sensitive parts of
// the model (norms, router, attention softmax): compute in float32, or in the
// input's own dtype when it is wider (float64 for gradient checks).
#pragma once

#include <torch/torch.h>

#include "kernels/fused_ops.h"

namespace dlab {

// float32 for half/bfloat16/float32 inputs, float64 for float64 inputs.
inline torch::ScalarType compute_dtype(torch::ScalarType t) {
  return torch::promote_types(t, torch::kFloat32);
}

// RMSNorm(x) = x * rsqrt(mean(x^2) + eps) * w over the last dimension.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // (..., dim) -> (..., dim), x's dtype
  // The fused kernel, times `scale` (the LayerNorm-scaling factor): x float32 or float64.
  torch::Tensor forward_fused(const torch::Tensor& x, double scale = 1.0);
  double eps() const { return eps_; }

  torch::Tensor weight;  // (dim) gain, initialised to 1

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

}  // namespace dlab
