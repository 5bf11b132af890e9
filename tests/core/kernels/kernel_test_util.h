// Shared helpers of the fused-kernel tests: the plain ATen reference of each
// operation (what core/model computes) and a float64 finite-difference check.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "kernels/cpu_features.h"

namespace dlab::test {

// Skips the test when DEPTHLAB_CPU_CAPABILITY asks for more than this CPU has
// (the suite runs once per instruction set, see CMakeLists.txt).
#define DEPTHLAB_REQUIRE_CAPABILITY()        \
  do {                                       \
    try {                                    \
      (void)dlab::kernels::cpu_capability(); \
    } catch (const dlab::Error& e) {         \
      GTEST_SKIP() << e.what();              \
    }                                        \
  } while (0)

// Relative error of a against the reference b, as the larger of the norm-wise
// ||a - b|| / ||b|| and the entry-wise max |a - b| / max |b|. (Entry by entry
// relative to each entry is meaningless for float32 sums whose terms cancel:
// the reference itself is that far from the exact value.)
inline double rel_error(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor x = a.to(torch::kFloat64), y = b.to(torch::kFloat64);
  const double scale = y.abs().max().item<double>();
  if (scale == 0) return (x - y).abs().max().item<double>();
  const double norm = (x - y).norm().item<double>() / y.norm().item<double>();
  return std::max(norm, (x - y).abs().max().item<double>() / scale);
}

// Compares d(sum(f(inputs) * R))/d input against fourth-order central finite
// differences for every entry of every input that requires grad (float64).
// Returns the worst |a - n| / max(|a| + |n|, floor).
inline double gradcheck(const std::function<torch::Tensor(const std::vector<torch::Tensor>&)>& f,
                        std::vector<torch::Tensor> inputs, double step = 1e-4,
                        double floor = 1e-5) {
  torch::manual_seed(99);
  torch::Tensor R;
  {
    torch::NoGradGuard no_grad;
    R = torch::randn_like(f(inputs));
  }
  std::vector<torch::Tensor> diff;
  for (auto& t : inputs) {
    if (t.requires_grad()) diff.push_back(t);
  }
  const torch::Tensor loss = (f(inputs) * R).sum();
  const auto grads = torch::autograd::grad({loss}, diff);
  torch::NoGradGuard no_grad;
  auto value = [&] { return (f(inputs) * R).sum().item<double>(); };
  double worst = 0;
  for (size_t i = 0; i < diff.size(); ++i) {
    torch::Tensor flat = diff[i].view({-1});
    const torch::Tensor g = grads[i].contiguous().view({-1});
    for (int64_t j = 0; j < flat.numel(); ++j) {
      const double x0 = flat[j].item<double>();
      auto at = [&](double dx) {
        flat[j] = x0 + dx;
        return value();
      };
      const double n = (8 * (at(step) - at(-step)) - (at(2 * step) - at(-2 * step))) / (12 * step);
      flat[j] = x0;
      const double a = g[j].item<double>();
      worst = std::max(worst, std::abs(a - n) / std::max(std::abs(a) + std::abs(n), floor));
    }
  }
  return worst;
}

}  // namespace dlab::test
