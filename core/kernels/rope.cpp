// The fused RoPE on a packed q/k/v projection: one pass rotates the query and
// key heads and copies the value heads; the backward rotates back.
#include <ATen/Parallel.h>

#include "kernels/cpu/kernels.h"
#include "kernels/fused_ops.h"
#include "kernels/fused_util.h"

namespace dlab::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

template <typename scalar_t>
void rotate(const torch::Tensor& in, torch::Tensor& out, const torch::Tensor& cos,
            const torch::Tensor& sin, int64_t n_rot, int64_t n_copy, int64_t dh, bool inverse) {
  const auto& k = cpu::kernel_table<scalar_t>();
  const int64_t T = in.size(1), ld = in.size(2), rows = in.size(0) * T;
  const scalar_t* ip = in.data_ptr<scalar_t>();
  scalar_t* op = out.data_ptr<scalar_t>();
  const scalar_t* cp = cos.data_ptr<scalar_t>();
  const scalar_t* sp = sin.data_ptr<scalar_t>();
  at::parallel_for(0, rows, detail::row_grain(ld), [&](int64_t r0, int64_t r1) {
    k.rope_rotate(ip + r0 * ld, op + r0 * ld, ld, cp, sp, cos.size(1), r0, r1 - r0, T, n_rot,
                  n_copy, dh, inverse);
  });
}

struct RopeFn : torch::autograd::Function<RopeFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& qkv_in,
                               const torch::Tensor& cos, const torch::Tensor& sin, int64_t n_rot,
                               int64_t n_copy, int64_t dh) {
    const torch::Tensor qkv = qkv_in.contiguous();
    torch::Tensor out = torch::empty_like(qkv);
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "dlab_rope_forward", [&] {
      rotate<scalar_t>(qkv, out, cos, sin, n_rot, n_copy, dh, /*inverse=*/false);
    });
    ctx->save_for_backward({cos, sin});
    ctx->saved_data["n_rot"] = n_rot;
    ctx->saved_data["n_copy"] = n_copy;
    ctx->saved_data["dh"] = dh;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor dout = grads[0].contiguous();
    torch::Tensor din = torch::empty_like(dout);
    AT_DISPATCH_FLOATING_TYPES(dout.scalar_type(), "dlab_rope_backward", [&] {
      rotate<scalar_t>(dout, din, saved[0], saved[1], ctx->saved_data["n_rot"].toInt(),
                       ctx->saved_data["n_copy"].toInt(), ctx->saved_data["dh"].toInt(),
                       /*inverse=*/true);
    });
    return {
        din, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor rope_qk(const torch::Tensor& qkv, const torch::Tensor& cos, const torch::Tensor& sin,
                      int64_t n_heads, int64_t n_kv_heads) {
  detail::check_floating(qkv, "rope_qk", "qkv");
  const int64_t heads = n_heads + 2 * n_kv_heads;
  if (qkv.dim() != 3 || heads <= 0 || qkv.size(2) % heads != 0 || (qkv.size(2) / heads) % 2 != 0) {
    throw Error("rope_qk: qkv has shape " + c10::str(qkv.sizes()) + ", expected (B, T, " +
                std::to_string(heads) + " * d_h) with d_h even");
  }
  const int64_t dh = qkv.size(2) / heads, T = qkv.size(1);
  if (cos.dim() != 2 || cos.size(0) < T || cos.size(1) < dh / 2 || sin.sizes() != cos.sizes()) {
    throw Error("rope_qk: tables of shape " + c10::str(cos.sizes()) +
                " do not cover T = " + std::to_string(T) + ", d_h = " + std::to_string(dh));
  }
  const torch::Tensor c = cos.to(qkv.scalar_type()).contiguous();
  const torch::Tensor s = sin.to(qkv.scalar_type()).contiguous();
  return RopeFn::apply(qkv, c, s, n_heads + n_kv_heads, n_kv_heads, dh);
}

}  // namespace dlab::kernels
