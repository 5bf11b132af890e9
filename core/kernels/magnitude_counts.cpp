// Weight magnitudes in one pass per tensor (cpu/elementwise_kernels.cpp):
// counts below each threshold and the log10 |w| histogram, per-slice partial
// counts added up (integers: the same for any thread count).
#include <ATen/Parallel.h>

#include "kernels/cpu/kernels.h"
#include "kernels/fused_ops.h"
#include "kernels/fused_util.h"

namespace dlab::kernels {

MagnitudeCounts magnitude_counts(const torch::Tensor& w_in, const std::vector<double>& eps,
                                 int bins, double lo, double hi) {
  torch::NoGradGuard no_grad;
  if (int(eps.size()) > cpu::kMaxEps || bins < 1 || !(lo < hi)) {
    throw Error("magnitude_counts: at most " + std::to_string(cpu::kMaxEps) +
                " thresholds and a histogram of >= 1 bin over lo < hi");
  }
  const torch::Tensor w = w_in.detach().to(torch::kFloat32).contiguous().view({-1});
  const int64_t n = w.numel();
  constexpr int64_t kSlice = int64_t(1) << 16;
  const int64_t slices = (n + kSlice - 1) / kSlice;
  const int n_eps = int(eps.size());
  std::vector<int64_t> below(size_t(slices * n_eps), 0), hist(size_t(slices * bins), 0);
  const float* x = w.data_ptr<float>();
  const auto& k = cpu::kernel_table<float>();
  const double bins_per_unit = double(bins) / (hi - lo);
  at::parallel_for(0, slices, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t begin = s * kSlice;
      k.magnitude_counts(x + begin, std::min(kSlice, n - begin), eps.data(), n_eps, lo,
                         bins_per_unit, bins, below.data() + s * n_eps, hist.data() + s * bins);
    }
  });
  MagnitudeCounts out;
  out.below.assign(size_t(n_eps), 0);
  out.hist.assign(size_t(bins), 0);
  for (int64_t s = 0; s < slices; ++s) {
    for (int e = 0; e < n_eps; ++e) out.below[size_t(e)] += below[size_t(s * n_eps + e)];
    for (int b = 0; b < bins; ++b) out.hist[size_t(b)] += hist[size_t(s * bins + b)];
  }
  out.entries = n;
  return out;
}

}  // namespace dlab::kernels
