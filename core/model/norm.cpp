#include "model/norm.h"

namespace dlab {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  const torch::ScalarType ct = compute_dtype(x.scalar_type());
  const torch::Tensor xc = x.to(ct);
  const torch::Tensor inv_rms = torch::rsqrt(xc.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return (xc * inv_rms * weight.to(ct)).to(x.scalar_type());
}

torch::Tensor RMSNormImpl::forward_fused(const torch::Tensor& x, double scale) {
  return kernels::rmsnorm(x, weight, eps_, scale);
}

}  // namespace dlab
