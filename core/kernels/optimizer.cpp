#include "kernels/optimizer.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "common/error.h"
#include "kernels/cpu/kernels.h"

namespace dlab::kernels {
namespace {

constexpr int64_t kSlice = int64_t(1) << 16;  // elements per task

struct Slice {
  size_t tensor;
  int64_t begin, len;
};

std::vector<Slice> slices_of(const std::vector<torch::Tensor>& tensors) {
  std::vector<Slice> out;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const int64_t n = tensors[i].defined() ? tensors[i].numel() : 0;
    for (int64_t b = 0; b < n; b += kSlice) out.push_back({i, b, std::min(kSlice, n - b)});
  }
  return out;
}

void check_f32_contiguous(const torch::Tensor& t, const char* what) {
  if (t.scalar_type() != torch::kFloat32 || !t.is_contiguous() ||
      t.device().type() != torch::kCPU) {
    throw Error(std::string("adamw_step: ") + what +
                " must be contiguous float32 CPU tensors (the fused optimizer)");
  }
}

}  // namespace

double sum_squares(const std::vector<torch::Tensor>& tensors_in) {
  std::vector<torch::Tensor> tensors;
  for (const torch::Tensor& t : tensors_in) {
    tensors.push_back(t.defined() ? t.contiguous() : t);
  }
  const std::vector<Slice> slices = slices_of(tensors);
  std::vector<double> part(slices.size(), 0.0);
  at::parallel_for(0, int64_t(slices.size()), 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      const Slice& sl = slices[size_t(s)];
      const torch::Tensor& t = tensors[sl.tensor];
      if (t.scalar_type() == torch::kFloat64) {
        part[size_t(s)] =
            cpu::kernel_table<double>().sum_squares(t.data_ptr<double>() + sl.begin, sl.len);
      } else {
        part[size_t(s)] = cpu::kernel_table<float>().sum_squares(
            t.to(torch::kFloat32).data_ptr<float>() + sl.begin, sl.len);
      }
    }
  });
  double total = 0;
  for (double p : part) total += p;
  return total;
}

void adamw_step(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& exp_avg,
                const std::vector<torch::Tensor>& exp_avg_sq, const std::vector<bool>& decay,
                const AdamWStep& s) {
  if (exp_avg.size() != params.size() || exp_avg_sq.size() != params.size() ||
      decay.size() != params.size()) {
    throw Error("adamw_step: parameter and state lists differ in length");
  }
  std::vector<torch::Tensor> grads;
  for (size_t i = 0; i < params.size(); ++i) {
    check_f32_contiguous(params[i], "parameters");
    check_f32_contiguous(exp_avg[i], "first moments");
    check_f32_contiguous(exp_avg_sq[i], "second moments");
    const torch::Tensor& g = params[i].grad();
    if (g.defined()) check_f32_contiguous(g, "gradients");
    grads.push_back(g);
  }
  const double bias1 = 1.0 - std::pow(s.beta1, double(s.t));
  const double bias2 = 1.0 - std::pow(s.beta2, double(s.t));
  cpu::AdamWArgs base;
  base.b1 = float(s.beta1);
  base.b2 = float(s.beta2);
  base.eps = float(s.eps);
  base.grad_scale = float(s.grad_scale);
  base.step_size = float(s.lr / bias1);
  base.inv_sqrt_bias2 = float(1.0 / std::sqrt(bias2));
  const float decayed = float(1.0 - s.lr * s.weight_decay);
  std::vector<torch::Tensor> updated;  // undefined where there is no gradient: no slices
  for (size_t i = 0; i < params.size(); ++i) {
    updated.push_back(grads[i].defined() ? params[i] : torch::Tensor());
  }
  const std::vector<Slice> slices = slices_of(updated);
  const auto& k = cpu::kernel_table_f32_only();
  at::parallel_for(0, int64_t(slices.size()), 1, [&](int64_t s0, int64_t s1) {
    for (int64_t i = s0; i < s1; ++i) {
      const Slice& sl = slices[size_t(i)];
      cpu::AdamWArgs a = base;
      a.decay = decay[sl.tensor] ? decayed : 1.0f;
      const torch::Tensor& g = grads[sl.tensor];
      k.adamw_update(params[sl.tensor].data_ptr<float>() + sl.begin, g.data_ptr<float>() + sl.begin,
                     exp_avg[sl.tensor].data_ptr<float>() + sl.begin,
                     exp_avg_sq[sl.tensor].data_ptr<float>() + sl.begin, sl.len, a);
    }
  });
}

}  // namespace dlab::kernels
