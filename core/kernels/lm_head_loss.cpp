// The LM head and its cross-entropy in row chunks: per chunk one product for
// the logits, one pass for log-sum-exp, the loss and (in place) the gradient of
// the logits, and two products for the input's and the weight's gradients.
// The (N, V) logits never exist; the gradients are kept for backward, which
// only scales them by the incoming gradient of the loss.
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "kernels/cpu/kernels.h"
#include "kernels/fused_ops.h"
#include "kernels/fused_util.h"
#include "kernels/gemm.h"

namespace dlab::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Logits per chunk: about 8 MiB of them, at least 32 rows.
int64_t chunk_rows(int64_t N, int64_t V) {
  const int64_t rows = (int64_t(8) << 20) / (4 * std::max<int64_t>(1, V));
  return std::min(N, std::max<int64_t>(32, rows));
}

// C (M, N) = op(A) op(B) (+ C with accumulate), float32 or float64 contiguous.
void product(bool ta, bool tb, const torch::Tensor& A, const torch::Tensor& B, torch::Tensor C,
             bool accumulate, Precision p) {
  if (C.scalar_type() == torch::kFloat64) {
    const torch::Tensor r = torch::mm(ta ? A.t() : A, tb ? B.t() : B);
    accumulate ? C.add_(r) : C.copy_(r);
    return;
  }
  const int64_t M = C.size(0), N = C.size(1), K = ta ? A.size(0) : A.size(1);
  if (p == Precision::Bf16) {
    const torch::Tensor a = A.to(torch::kBFloat16), b = B.to(torch::kBFloat16);
    torch::Tensor out = accumulate ? torch::empty_like(C) : C;
    gemm_bf16(ta, tb, M, N, K, reinterpret_cast<const uint16_t*>(a.data_ptr<at::BFloat16>()),
              a.size(1), reinterpret_cast<const uint16_t*>(b.data_ptr<at::BFloat16>()), b.size(1),
              out.data_ptr<float>(), N);
    if (accumulate) C.add_(out);
    return;
  }
  gemm_f32(ta, tb, M, N, K, 1.0f, A.data_ptr<float>(), A.size(1), B.data_ptr<float>(), B.size(1),
           accumulate ? 1.0f : 0.0f, C.data_ptr<float>(), N);
}

struct LmHeadLossFn : torch::autograd::Function<LmHeadLossFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& w_in, const torch::Tensor& targets_in,
                               int64_t precision, bool need_grad) {
    const Precision p = Precision(precision);
    const int64_t d = x_in.size(-1), N = x_in.numel() / std::max<int64_t>(1, d);
    const int64_t V = w_in.size(0);
    const torch::Tensor x = x_in.reshape({N, d}).contiguous();
    const torch::Tensor w = w_in.contiguous();
    const torch::Tensor targets = targets_in.reshape({N}).contiguous();
    // bf16 copies of the weight once for all chunks
    const torch::Tensor w_op = p == Precision::Bf16 ? w.to(torch::kBFloat16) : w;
    const int64_t chunk = chunk_rows(N, V);
    torch::Tensor logits = torch::empty({chunk, V}, x.options());
    torch::Tensor row_loss = torch::empty({chunk}, x.options());
    torch::Tensor dx, dw;
    if (need_grad) {
      dx = torch::empty_like(x);
      dw = torch::zeros_like(w);
    }
    double total = 0;
    const int64_t* tp = targets.data_ptr<int64_t>();
    for (int64_t c0 = 0; c0 < N; c0 += chunk) {
      const int64_t rows = std::min(chunk, N - c0);
      torch::Tensor lg = logits.narrow(0, 0, rows);
      const torch::Tensor xc = x.narrow(0, c0, rows);
      product(/*ta=*/false, /*tb=*/true, xc, w_op, lg, /*accumulate=*/false, p);
      AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "dlab_lm_head_loss", [&] {
        const auto& k = cpu::kernel_table<scalar_t>();
        scalar_t* lp = lg.data_ptr<scalar_t>();
        scalar_t* rl = row_loss.data_ptr<scalar_t>();
        const double scale = need_grad ? 1.0 / double(N) : 0.0;
        at::parallel_for(0, rows, detail::row_grain(V), [&](int64_t r0, int64_t r1) {
          k.cross_entropy_rows(lp + r0 * V, V, tp + c0 + r0, r1 - r0, V, rl + r0, scale);
        });
        for (int64_t r = 0; r < rows; ++r) total += double(rl[r]);
      });
      if (need_grad) {
        product(false, false, lg, w_op, dx.narrow(0, c0, rows), false, p);  // dlogits W
        product(true, false, lg, xc, dw, /*accumulate=*/c0 > 0, p);         // dlogitsᵀ x
      }
    }
    if (need_grad) {
      ctx->save_for_backward({dx, dw});
      ctx->saved_data["x_shape"] = x_in.sizes().vec();
    }
    return torch::full({}, total / double(N), x.options());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor g = grads[0];
    const std::vector<int64_t> shape = ctx->saved_data["x_shape"].toIntVector();
    return {(saved[0] * g).view(shape), saved[1] * g, torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor lm_head_loss(const torch::Tensor& x, const torch::Tensor& w,
                           const torch::Tensor& targets, Precision precision) {
  detail::check_floating(x, "lm_head_loss", "x");
  const int64_t d = x.size(-1);
  if (w.dim() != 2 || w.size(1) != d) {
    throw Error("lm_head_loss: weight has shape " + c10::str(w.sizes()) + ", expected (V, " +
                std::to_string(d) + ")");
  }
  const int64_t N = x.numel() / std::max<int64_t>(1, d), V = w.size(0);
  if (targets.scalar_type() != torch::kInt64 || targets.numel() != N) {
    throw Error("lm_head_loss: targets must be " + std::to_string(N) + " int64 values, got " +
                std::to_string(targets.numel()) + " " + c10::toString(targets.scalar_type()));
  }
  if (N == 0) throw Error("lm_head_loss: no tokens");
  const int64_t lo = targets.min().item<int64_t>(), hi = targets.max().item<int64_t>();
  if (lo < 0 || hi >= V) {
    throw Error("lm_head_loss: target " + std::to_string(lo < 0 ? lo : hi) +
                " is outside the vocabulary 0.." + std::to_string(V - 1));
  }
  const torch::Tensor wc = w.to(x.scalar_type());
  const bool need_grad = torch::GradMode::is_enabled() && (x.requires_grad() || wc.requires_grad());
  const Precision p = x.scalar_type() == torch::kFloat64 ? Precision::Fp32 : precision;
  return LmHeadLossFn::apply(x, wc, targets, int64_t(p), need_grad);
}

}  // namespace dlab::kernels
