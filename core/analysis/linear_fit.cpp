#include "analysis/linear_fit.h"

#include "common/error.h"

namespace dlab {

LinearMap LinearFit::map(bool transposed) const {
  LinearMap m;
  m.weight = weight.to(torch::kFloat32);
  m.bias = bias.to(torch::kFloat32);
  m.transposed = transposed;
  return m;
}

LinearFitAccumulator::LinearFitAccumulator(int64_t d) : d_(d) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  xtx_ = torch::zeros({d, d}, f64);
  xty_ = torch::zeros({d, d}, f64);
  sx_ = torch::zeros({d}, f64);
  sy_ = torch::zeros({d}, f64);
}

void LinearFitAccumulator::add(const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  const torch::Tensor X = x.detach().reshape({-1, d_}).to(torch::kFloat64);  // (n, d)
  const torch::Tensor Y = y.detach().reshape({-1, d_}).to(torch::kFloat64);  // (n, d)
  if (X.size(0) != Y.size(0)) throw Error("linear fit: x and y hold different token counts");
  if (X.size(0) == 0) return;
  if (n_ == 0) shift_ = X.mean(0);
  const torch::Tensor Xc = X - shift_;
  xtx_ += torch::matmul(Xc.t(), Xc);
  xty_ += torch::matmul(Xc.t(), Y);
  sx_ += Xc.sum(0);
  sy_ += Y.sum(0);
  n_ += X.size(0);
}

LinearFit LinearFitAccumulator::solve() const {
  torch::NoGradGuard no_grad;
  if (n_ == 0) throw Error("linear fit: no tokens to fit");
  const int64_t d = d_;
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  // A = [[X'^T X', sum x'^T], [sum x', n]],  B = [[X'^T Y], [sum y]]
  torch::Tensor A = torch::zeros({d + 1, d + 1}, f64);
  A.slice(0, 0, d).slice(1, 0, d).copy_(xtx_);
  A.slice(0, 0, d).select(1, d).copy_(sx_);
  A.select(0, d).slice(0, 0, d).copy_(sx_);
  A[d][d] = double(n_);
  torch::Tensor B = torch::cat({xty_, sy_.unsqueeze(0)}, 0);  // (d+1, d)

  LinearFit fit;
  fit.count = n_;
  const double scale = xtx_.diagonal().sum().item<double>() / double(d);
  double ridge = 0;
  for (int attempt = 0; attempt <= 8; ++attempt) {
    torch::Tensor Ar = A.clone();
    if (ridge > 0) Ar.diagonal().slice(0, 0, d).add_(ridge);
    auto [L, info] = torch::linalg_cholesky_ex(Ar);
    if (info.item<int64_t>() == 0) {
      const torch::Tensor theta = torch::cholesky_solve(B, L);  // (d+1, d)
      const torch::Tensor W = theta.slice(0, 0, d);
      fit.weight = W.contiguous();
      fit.bias = (theta[d] - torch::matmul(shift_, W)).contiguous();
      fit.ridge = ridge;
      return fit;
    }
    ridge = ridge == 0 ? std::max(scale, 1e-300) * 1e-12 : ridge * 100;
  }
  throw Error("linear fit: the normal equations stay singular even with a ridge of " +
              std::to_string(ridge / 100) + " (are the hidden states all zero?)");
}

}  // namespace dlab
