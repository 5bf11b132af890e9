// The fused linear layer: y = x Wᵀ for one or several weights sharing x, as one
// matrix product through oneDNN (gemm.h), with its two backward products.
#include "kernels/fused_ops.h"
#include "kernels/fused_util.h"
#include "kernels/gemm.h"

namespace dlab::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

const uint16_t* bf16_ptr(const torch::Tensor& t) {
  return reinterpret_cast<const uint16_t*>(t.data_ptr<at::BFloat16>());
}

// C (M, N) = op(A) op(B) for 2-D contiguous float tensors, in the given precision.
void matmul(bool ta, bool tb, const torch::Tensor& A, const torch::Tensor& B, torch::Tensor& C,
            Precision p) {
  const int64_t M = C.size(0), N = C.size(1), K = ta ? A.size(0) : A.size(1);
  if (C.scalar_type() == torch::kFloat64) {  // gradient checks: plain ATen
    C.copy_(torch::mm(ta ? A.t() : A, tb ? B.t() : B));
    return;
  }
  if (p == Precision::Bf16) {
    gemm_bf16(ta, tb, M, N, K, bf16_ptr(A), A.size(1), bf16_ptr(B), B.size(1), C.data_ptr<float>(),
              N);
  } else {
    gemm_f32(ta, tb, M, N, K, 1.0f, A.data_ptr<float>(), A.size(1), B.data_ptr<float>(), B.size(1),
             0.0f, C.data_ptr<float>(), N);
  }
}

// The operand of a product: bf16 copies under Precision::Bf16, else itself.
torch::Tensor operand(const torch::Tensor& t, Precision p) {
  return p == Precision::Bf16 && t.scalar_type() == torch::kFloat32 ? t.to(torch::kBFloat16)
                                                                    : t.contiguous();
}

struct LinearFn : torch::autograd::Function<LinearFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               torch::TensorList weights, int64_t precision) {
    const Precision p = Precision(precision);
    const int64_t K = x.size(-1), M = x.numel() / std::max<int64_t>(1, K);
    std::vector<int64_t> sizes;
    for (const torch::Tensor& w : weights) sizes.push_back(w.size(0));
    // (N, K) with N = sum N_i: a copy of a few weights is cheap next to the product.
    const torch::Tensor w_all =
        weights.size() == 1 ? operand(weights[0], p) : operand(torch::cat(weights, 0), p);
    const torch::Tensor x2 = operand(x.reshape({M, K}), p);
    const int64_t N = w_all.size(0);
    torch::Tensor y = torch::empty({M, N}, x.options());
    matmul(/*ta=*/false, /*tb=*/true, x2, w_all, y, p);
    ctx->save_for_backward({x2, w_all});
    ctx->saved_data["sizes"] = sizes;
    ctx->saved_data["precision"] = precision;
    std::vector<int64_t> out_shape = x.sizes().vec();
    out_shape.back() = N;
    return y.view(out_shape);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x2 = saved[0];     // (M, K)
    const torch::Tensor& w_all = saved[1];  // (N, K)
    const Precision p = Precision(ctx->saved_data["precision"].toInt());
    const std::vector<int64_t> sizes = ctx->saved_data["sizes"].toIntVector();
    const int64_t M = x2.size(0), K = x2.size(1), N = w_all.size(0);
    const torch::TensorOptions opts = grads[0].options();
    const torch::Tensor dy = operand(grads[0].reshape({M, N}), p);
    torch::Tensor dx = torch::empty({M, K}, opts);
    matmul(/*ta=*/false, /*tb=*/false, dy, w_all, dx, p);  // dx = dy W
    torch::Tensor dw = torch::empty({N, K}, opts);
    matmul(/*ta=*/true, /*tb=*/false, dy, x2, dw, p);  // dW = dyᵀ x
    std::vector<int64_t> x_shape = grads[0].sizes().vec();
    x_shape.back() = K;
    variable_list out{dx.view(x_shape)};
    int64_t off = 0;
    for (int64_t n : sizes) {
      out.push_back(dw.narrow(0, off, n));
      off += n;
    }
    out.push_back(torch::Tensor());  // precision
    return out;
  }
};

}  // namespace

torch::Tensor linear(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                     Precision precision) {
  detail::check_floating(x, "linear", "x");
  if (weights.empty()) throw Error("linear: no weights");
  std::vector<torch::Tensor> ws;
  for (const torch::Tensor& w : weights) {
    if (w.dim() != 2 || w.size(1) != x.size(-1)) {
      throw Error("linear: weight of shape " + c10::str(w.sizes()) + " does not take inputs of " +
                  std::to_string(x.size(-1)) + " features");
    }
    ws.push_back(w.to(x.scalar_type()));
  }
  // float64 (gradient checks) has no bf16 products
  const Precision p = x.scalar_type() == torch::kFloat64 ? Precision::Fp32 : precision;
  return LinearFn::apply(x, torch::TensorList(ws), int64_t(p));
}

}  // namespace dlab::kernels
