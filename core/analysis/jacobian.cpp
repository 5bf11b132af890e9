#include "analysis/jacobian.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace dlab {
namespace {

void check_input(Transformer& model, int position, const torch::Tensor& h_in) {
  const int L = model->config().n_layers;
  if (position < 0 || position >= L) {
    throw Error("Jacobian: layer " + std::to_string(position) + " is outside 0.." +
                std::to_string(L - 1));
  }
  if (h_in.dim() != 3 || h_in.size(2) != model->config().d_model) {
    throw Error("Jacobian: hidden states must be (B, T, " +
                std::to_string(model->config().d_model) + "), got " + c10::str(h_in.sizes()));
  }
}

JacobianResult make_result(const torch::Tensor& J64) {
  JacobianResult r;
  r.matrix = J64.to(torch::kFloat32);
  r.summary = jacobian_summarize(J64);
  return r;
}

}  // namespace

JacobianSummary jacobian_summarize(const torch::Tensor& J) {
  torch::NoGradGuard no_grad;
  const torch::Tensor j = J.detach().to(torch::kCPU, torch::kFloat64);
  const int64_t d = j.size(0);
  const torch::Tensor eye = torch::eye(d, j.options());
  JacobianSummary s;
  s.deviation = (j - eye).norm().item<double>() / double(d);
  s.offdiag = d > 1 ? (j * (1 - eye)).norm().item<double>() / std::sqrt(double(d * d - d)) : 0.0;
  const torch::Tensor diag = j.diagonal();
  s.diag_mean = diag.mean().item<double>();
  s.diag_std = d > 1 ? diag.std().item<double>() : 0.0;
  s.frobenius = j.norm().item<double>();
  s.spectral = torch::linalg_svdvals(j).max().item<double>();
  return s;
}

JacobianResult jacobian_rowwise(Transformer& model, int position, const torch::Tensor& h_in,
                                int vjp_batch) {
  check_input(model, position, h_in);
  torch::AutoGradMode grad_on(true);
  const int64_t B = h_in.size(0), T = h_in.size(1), d = h_in.size(2);
  const int64_t k_max = std::max<int64_t>(1, std::min<int64_t>(vjp_batch, d));
  torch::Tensor J = torch::zeros({d, d}, torch::kFloat64);  // J[j][i]
  for (int64_t i0 = 0; i0 < d; i0 += k_max) {
    const int64_t k = std::min(k_max, d - i0);
    // k copies of the batch: copy c seeds output channel i0 + c of every token.
    const torch::Tensor x = h_in.detach().repeat({k, 1, 1}).requires_grad_(true);  // (k*B, T, d)
    const torch::Tensor y = model->block_forward(position, position, x);           // (k*B, T, d)
    torch::Tensor seed = torch::zeros({k, B, T, d}, y.options());
    for (int64_t c = 0; c < k; ++c) seed[c].select(/*dim=*/2, i0 + c).fill_(1.0);
    const torch::Tensor g =
        torch::autograd::grad({y}, {x}, {seed.view({k * B, T, d})})[0];  // (k*B, T, d)
    // Σ over every input token (b', t'), divided by B·T: (k, d) rows j for outputs i0..i0+k-1
    const torch::Tensor rows =
        g.view({k, B, T, d}).to(torch::kFloat64).sum(torch::IntArrayRef{1, 2}) / double(B * T);
    J.slice(/*dim=*/1, i0, i0 + k).copy_(rows.transpose(0, 1));
  }
  return make_result(J);
}

JacobianResult jacobian_token(Transformer& model, int position, const torch::Tensor& h_in, int b,
                              int t) {
  check_input(model, position, h_in);
  if (b < 0 || b >= h_in.size(0) || t < 0 || t >= h_in.size(1)) {
    throw Error("Jacobian: token (" + std::to_string(b) + ", " + std::to_string(t) +
                ") is outside the (B, T) = " + c10::str(h_in.sizes().slice(0, 2)) + " batch");
  }
  torch::AutoGradMode grad_on(true);
  // Only sequence b matters (sequences do not interact), and only its first t+1
  // tokens (causal attention), so the graph is built for x[b, :t+1] alone.
  const int64_t d = h_in.size(2);
  const torch::Tensor x =
      h_in.detach().slice(0, b, b + 1).slice(1, 0, t + 1).repeat({d, 1, 1}).requires_grad_(true);
  const torch::Tensor y = model->block_forward(position, position, x);  // (d, t+1, d)
  torch::Tensor seed = torch::zeros_like(y);
  for (int64_t i = 0; i < d; ++i) seed[i][t][i] = 1.0;
  const torch::Tensor g = torch::autograd::grad({y}, {x}, {seed})[0];  // (d, t+1, d)
  // g[i][t][j] = ∂y[t,i]/∂x[t,j]; J[j][i] is its transpose.
  const torch::Tensor J = g.select(/*dim=*/1, t).to(torch::kFloat64).transpose(0, 1).contiguous();
  return make_result(J);
}

}  // namespace dlab
