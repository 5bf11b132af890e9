// The fused causal attention (cpu/attention_kernels.cpp): tasks of (sequence,
// key/value head) across the intra-op threads, each with its own scratch.
#include <ATen/Parallel.h>

#include <cmath>

#include "kernels/cpu/kernels.h"
#include "kernels/fused_ops.h"
#include "kernels/fused_util.h"

namespace dlab::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct Shape {
  int64_t B, T, H, G, dh;
};

Shape shape_of(const torch::Tensor& qkv, int64_t H, int64_t G) {
  return Shape{qkv.size(0), qkv.size(1), H, G, qkv.size(2) / (H + 2 * G)};
}

template <typename scalar_t>
cpu::AttentionArgs<scalar_t> args_of(const torch::Tensor& qkv, const Shape& s) {
  cpu::AttentionArgs<scalar_t> a;
  a.qkv = qkv.data_ptr<scalar_t>();
  a.ld = qkv.size(2);
  a.B = s.B;
  a.T_len = s.T;
  a.H = s.H;
  a.G = s.G;
  a.dh = s.dh;
  a.scale = 1.0 / std::sqrt(double(s.dh));
  a.ld_out = s.H * s.dh;
  return a;
}

// Runs `kernel` for every (b, g) task; scratch is allocated once per thread's share.
template <typename scalar_t, typename Kernel>
void run_tasks(const Shape& s, Kernel kernel) {
  const int64_t scratch = cpu::attention_scratch_elems(s.T, s.dh);
  at::parallel_for(0, s.B * s.G, 1, [&](int64_t t0, int64_t t1) {
    std::vector<scalar_t> buf(static_cast<size_t>(scratch));
    for (int64_t t = t0; t < t1; ++t) kernel(t / s.G, t % s.G, buf.data());
  });
}

struct AttentionFn : torch::autograd::Function<AttentionFn> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& qkv_in, int64_t H,
                               int64_t G, std::vector<double> eps) {
    const torch::Tensor qkv = qkv_in.contiguous();
    const Shape s = shape_of(qkv, H, G);
    torch::Tensor out = torch::empty({s.B, s.T, H * s.dh}, qkv.options());
    torch::Tensor lse = torch::empty({s.B, H, s.T}, qkv.options());
    const int n_eps = int(eps.size());
    torch::Tensor records, sums;
    std::vector<double> log_eps;
    for (double e : eps) log_eps.push_back(std::log(e));
    if (n_eps > 0) {
      records = torch::zeros({s.B, H, cpu::kAttnStatFixed + n_eps}, torch::kFloat64);
    }
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "dlab_attention_forward", [&] {
      const auto& k = cpu::kernel_table<scalar_t>();
      cpu::AttentionArgs<scalar_t> a = args_of<scalar_t>(qkv, s);
      a.out = out.data_ptr<scalar_t>();
      a.lse = lse.data_ptr<scalar_t>();
      if (n_eps > 0) {
        a.log_eps = log_eps.data();
        a.n_eps = n_eps;
        a.stats = records.data_ptr<double>();
      }
      run_tasks<scalar_t>(s, [&](int64_t b, int64_t g, scalar_t* scratch) {
        k.attention_forward(a, b, g, scratch);
      });
    });
    if (n_eps > 0) {
      // sequences in order: the same sums for any thread count
      sums = torch::zeros({H, cpu::kAttnStatFixed + n_eps}, torch::kFloat64);
      double* dst = sums.data_ptr<double>();
      const double* src = records.data_ptr<double>();
      const int64_t per_b = H * (cpu::kAttnStatFixed + n_eps);
      for (int64_t b = 0; b < s.B; ++b) {
        for (int64_t i = 0; i < per_b; ++i) dst[i] += src[b * per_b + i];
      }
    } else {
      sums = torch::empty({0}, torch::kFloat64);
    }
    ctx->mark_non_differentiable({sums});
    ctx->save_for_backward({qkv, out, lse});
    ctx->saved_data["H"] = H;
    ctx->saved_data["G"] = G;
    return {out, sums};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& qkv = saved[0];
    const torch::Tensor& out = saved[1];
    const torch::Tensor& lse = saved[2];
    const Shape s = shape_of(qkv, ctx->saved_data["H"].toInt(), ctx->saved_data["G"].toInt());
    torch::Tensor dout = grads[0].defined() ? grads[0].contiguous() : torch::zeros_like(out);
    torch::Tensor dqkv = torch::empty_like(qkv);
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "dlab_attention_backward", [&] {
      const auto& k = cpu::kernel_table<scalar_t>();
      cpu::AttentionArgs<scalar_t> a = args_of<scalar_t>(qkv, s);
      a.dout = dout.data_ptr<scalar_t>();
      a.out_saved = out.data_ptr<scalar_t>();
      a.lse_saved = lse.data_ptr<scalar_t>();
      a.dqkv = dqkv.data_ptr<scalar_t>();
      run_tasks<scalar_t>(s, [&](int64_t b, int64_t g, scalar_t* scratch) {
        k.attention_backward(a, b, g, scratch);
      });
    });
    return {dqkv, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

AttentionOutput attention(const torch::Tensor& qkv, int64_t n_heads, int64_t n_kv_heads,
                          const std::vector<double>& stats_eps) {
  detail::check_floating(qkv, "attention", "qkv");
  const int64_t heads = n_heads + 2 * n_kv_heads;
  if (n_heads < 1 || n_kv_heads < 1 || n_heads % n_kv_heads != 0) {
    throw Error("attention: " + std::to_string(n_heads) + " query heads cannot share " +
                std::to_string(n_kv_heads) + " key/value heads");
  }
  if (qkv.dim() != 3 || qkv.size(2) % heads != 0 || qkv.size(1) < 1) {
    throw Error("attention: qkv has shape " + c10::str(qkv.sizes()) + ", expected (B, T, " +
                std::to_string(heads) + " * d_h)");
  }
  if (int(stats_eps.size()) > cpu::kMaxEps) {
    throw Error("attention: at most " + std::to_string(cpu::kMaxEps) +
                " sparsity thresholds per pass, got " + std::to_string(stats_eps.size()));
  }
  for (double e : stats_eps) {
    if (!(e > 0))
      throw Error("attention: sparsity threshold " + std::to_string(e) + " must be > 0");
  }
  const variable_list r = AttentionFn::apply(qkv, n_heads, n_kv_heads, stats_eps);
  AttentionOutput out;
  out.out = r[0];
  if (!stats_eps.empty()) out.stat_sums = r[1];
  return out;
}

}  // namespace dlab::kernels
