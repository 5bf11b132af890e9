// The fused RMSNorm: one pass forward (saving 1/rms per row), one backward.
#include <ATen/Parallel.h>

#include "kernels/cpu/kernels.h"
#include "kernels/fused_ops.h"
#include "kernels/fused_util.h"

namespace dlab::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows per chunk of the weight gradient: the chunks' partial sums are added in
// chunk order, so dw does not depend on the thread count.
constexpr int64_t kRowsPerChunk = 64;

struct RmsNormFn : torch::autograd::Function<RmsNormFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& w, double eps, double scale) {
    const torch::Tensor x = x_in.contiguous();
    const int64_t d = x.size(-1), rows = x.numel() / std::max<int64_t>(1, d);
    torch::Tensor y = torch::empty_like(x);
    torch::Tensor rstd = torch::empty({rows}, x.options());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "dlab_rmsnorm_forward", [&] {
      const auto& k = cpu::kernel_table<scalar_t>();
      const scalar_t* xp = x.data_ptr<scalar_t>();
      const scalar_t* wp = w.data_ptr<scalar_t>();
      scalar_t* yp = y.data_ptr<scalar_t>();
      scalar_t* rp = rstd.data_ptr<scalar_t>();
      at::parallel_for(0, rows, detail::row_grain(d), [&](int64_t r0, int64_t r1) {
        k.rmsnorm_forward(xp + r0 * d, d, wp, yp + r0 * d, rp + r0, r1 - r0, d, eps, scale);
      });
    });
    ctx->save_for_backward({x, w, rstd});
    ctx->saved_data["scale"] = scale;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& w = saved[1];
    const torch::Tensor& rstd = saved[2];
    const double scale = ctx->saved_data["scale"].toDouble();
    const torch::Tensor dy = grads[0].contiguous();
    const int64_t d = x.size(-1), rows = rstd.numel();
    const int64_t chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
    torch::Tensor dx = torch::empty_like(x);
    torch::Tensor partial = torch::zeros({std::max<int64_t>(1, chunks), d}, x.options());
    torch::Tensor dw = torch::zeros_like(w);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "dlab_rmsnorm_backward", [&] {
      const auto& k = cpu::kernel_table<scalar_t>();
      const scalar_t* xp = x.data_ptr<scalar_t>();
      const scalar_t* wp = w.data_ptr<scalar_t>();
      const scalar_t* rp = rstd.data_ptr<scalar_t>();
      const scalar_t* gp = dy.data_ptr<scalar_t>();
      scalar_t* dxp = dx.data_ptr<scalar_t>();
      scalar_t* pp = partial.data_ptr<scalar_t>();
      at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          const int64_t r0 = c * kRowsPerChunk, n = std::min(kRowsPerChunk, rows - r0);
          k.rmsnorm_backward(xp + r0 * d, d, wp, rp + r0, gp + r0 * d, dxp + r0 * d, pp + c * d, n,
                             d, scale);
        }
      });
      scalar_t* dwp = dw.data_ptr<scalar_t>();
      for (int64_t c = 0; c < chunks; ++c) {
        for (int64_t i = 0; i < d; ++i) dwp[i] += pp[c * d + i];
      }
    });
    return {dx, dw, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor rmsnorm(const torch::Tensor& x, const torch::Tensor& w, double eps, double scale) {
  detail::check_floating(x, "rmsnorm", "x");
  if (w.dim() != 1 || w.size(0) != x.size(-1)) {
    throw Error("rmsnorm: weight has shape " + c10::str(w.sizes()) + ", expected [" +
                std::to_string(x.size(-1)) + "]");
  }
  return RmsNormFn::apply(x, w.to(x.scalar_type()).contiguous(), eps, scale);
}

}  // namespace dlab::kernels
