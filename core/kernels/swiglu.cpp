// The fused SwiGLU: silu(g) * u in one pass over the packed [g | u] product.
#include <ATen/Parallel.h>

#include "kernels/cpu/kernels.h"
#include "kernels/fused_ops.h"
#include "kernels/fused_util.h"

namespace dlab::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct SwigluFn : torch::autograd::Function<SwigluFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gu_in) {
    const torch::Tensor gu = gu_in.contiguous();
    const int64_t f = gu.size(-1) / 2, rows = gu.numel() / std::max<int64_t>(1, 2 * f);
    std::vector<int64_t> shape = gu.sizes().vec();
    shape.back() = f;
    torch::Tensor m = torch::empty(shape, gu.options());
    AT_DISPATCH_FLOATING_TYPES(gu.scalar_type(), "dlab_swiglu_forward", [&] {
      const auto& k = cpu::kernel_table<scalar_t>();
      const scalar_t* gp = gu.data_ptr<scalar_t>();
      scalar_t* mp = m.data_ptr<scalar_t>();
      at::parallel_for(0, rows, detail::row_grain(2 * f), [&](int64_t r0, int64_t r1) {
        k.swiglu_forward(gp + r0 * 2 * f, mp + r0 * f, r1 - r0, f);
      });
    });
    ctx->save_for_backward({gu});
    return m;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor gu = ctx->get_saved_variables()[0];
    const torch::Tensor dm = grads[0].contiguous();
    const int64_t f = gu.size(-1) / 2, rows = gu.numel() / std::max<int64_t>(1, 2 * f);
    torch::Tensor dgu = torch::empty_like(gu);
    AT_DISPATCH_FLOATING_TYPES(gu.scalar_type(), "dlab_swiglu_backward", [&] {
      const auto& k = cpu::kernel_table<scalar_t>();
      const scalar_t* gp = gu.data_ptr<scalar_t>();
      const scalar_t* dp = dm.data_ptr<scalar_t>();
      scalar_t* op = dgu.data_ptr<scalar_t>();
      at::parallel_for(0, rows, detail::row_grain(2 * f), [&](int64_t r0, int64_t r1) {
        k.swiglu_backward(gp + r0 * 2 * f, dp + r0 * f, op + r0 * 2 * f, r1 - r0, f);
      });
    });
    return {dgu};
  }
};

}  // namespace

torch::Tensor swiglu(const torch::Tensor& gu) {
  detail::check_floating(gu, "swiglu", "gu");
  if (gu.dim() < 1 || gu.size(-1) % 2 != 0) {
    throw Error("swiglu: the last dimension of " + c10::str(gu.sizes()) +
                " must be even ([g | u])");
  }
  return SwigluFn::apply(gu);
}

}  // namespace dlab::kernels
