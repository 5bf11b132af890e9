// The residual statistics of one probe point in one pass (cpu/elementwise_kernels.cpp):
// the per-row moments directly, the per-channel and flat kurtosis from
// float64 power sums about each channel's first value.
#include <ATen/Parallel.h>

#include <cmath>

#include "gpu/stats_math.h"
#include "kernels/cpu/kernels.h"
#include "kernels/fused_ops.h"
#include "kernels/fused_util.h"

namespace dlab::kernels {
namespace {

constexpr int64_t kRowsPerChunk = 64;  // partial sums per chunk, added in chunk order

// Central moments m2, m4 (sums, not means) about mean + delta from the power
// sums S1..S4 of y = x - c over n samples, delta = mean(x) - c: the arithmetic
// the CUDA kernels share (gpu/stats_math.h).
void central(double S1, double S2, double S3, double S4, double n, double delta, double* m2,
             double* m4) {
  gpu::PowerSums p;
  p.n = n;
  p.s1 = S1;
  p.s2 = S2;
  p.s3 = S3;
  p.s4 = S4;
  gpu::power_sums_central(p, delta, m2, m4);
}

// mean((x-mu)^4) / s^4 with s^2 = m2 / (n-1); 3 when s = 0 (metrics/residual_stats.h).
double kurtosis(double m2, double m4, double n) { return gpu::kurtosis_from_central(m2, m4, n); }

// One probe's buffers: per-chunk partial sums, reduced in chunk order.
struct Probe {
  torch::Tensor h;  // contiguous
  bool kurtosis = false;
  int64_t N = 0, d = 0, chunks = 0;
  std::vector<double> rows, cols;
};

ResidualMoments finish(const Probe& p) {
  const int64_t N = p.N, d = p.d;
  ResidualMoments m;
  double var_sum = 0, kurt_sum = 0;
  std::vector<double> col(p.kurtosis ? size_t(4 * d) : 0, 0.0);
  for (int64_t c = 0; c < p.chunks; ++c) {
    var_sum += p.rows[size_t(2 * c)];
    kurt_sum += p.rows[size_t(2 * c + 1)];
    for (size_t i = 0; i < col.size(); ++i) col[i] += p.cols[size_t(4 * d * c) + i];
  }
  m.token_variance = var_sum / double(N);
  if (!p.kurtosis) return m;
  m.kurtosis_token = kurt_sum / double(N);
  std::vector<double> shift(static_cast<size_t>(d));
  AT_DISPATCH_FLOATING_TYPES(p.h.scalar_type(), "dlab_residual_shift", [&] {
    const scalar_t* x = p.h.data_ptr<scalar_t>();
    for (int64_t j = 0; j < d; ++j) shift[size_t(j)] = double(x[j]);
  });
  const double* S1 = col.data();
  const double* S2 = S1 + d;
  const double* S3 = S2 + d;
  const double* S4 = S3 + d;
  double mean_all = 0;  // of x, from each channel's sum about its shift
  for (int64_t j = 0; j < d; ++j) mean_all += S1[j] / double(N) + shift[size_t(j)];
  mean_all /= double(d);
  double M2 = 0, M4 = 0, kmax = -INFINITY, ksum = 0;
  for (int64_t j = 0; j < d; ++j) {
    double m2, m4;
    central(S1[j], S2[j], S3[j], S4[j], double(N), S1[j] / double(N), &m2, &m4);
    const double kj = kurtosis(m2, m4, double(N));
    ksum += kj;
    kmax = std::max(kmax, kj);
    central(S1[j], S2[j], S3[j], S4[j], double(N), mean_all - shift[size_t(j)], &m2, &m4);
    M2 += m2;
    M4 += m4;
  }
  m.kurtosis_channel_mean = ksum / double(d);
  m.kurtosis_channel_max = kmax;
  m.kurtosis_flat = kurtosis(M2, M4, double(N) * double(d));
  return m;
}

}  // namespace

std::vector<ResidualMoments> residual_moments(const std::vector<torch::Tensor>& tensors,
                                              const std::vector<bool>& with_kurtosis) {
  torch::NoGradGuard no_grad;
  if (with_kurtosis.size() != tensors.size()) {
    throw Error("residual_moments: " + std::to_string(tensors.size()) + " tensors but " +
                std::to_string(with_kurtosis.size()) + " kurtosis flags");
  }
  std::vector<Probe> probes(tensors.size());
  struct Task {
    size_t probe;
    int64_t chunk;
  };
  std::vector<Task> tasks;
  for (size_t i = 0; i < tensors.size(); ++i) {
    detail::check_floating(tensors[i], "residual_moments", "h");
    Probe& p = probes[i];
    p.kurtosis = with_kurtosis[i];
    p.d = tensors[i].size(-1);
    p.N = tensors[i].numel() / std::max<int64_t>(1, p.d);
    if (p.d < 2 || p.N < (p.kurtosis ? 2 : 1)) {
      throw Error("residual_moments: " + std::to_string(p.N) + " token(s) of " +
                  std::to_string(p.d) + " channel(s); the statistics need d >= 2 and " +
                  (p.kurtosis ? "at least two tokens" : "a token"));
    }
    p.h = tensors[i].detach().contiguous();
    p.chunks = (p.N + kRowsPerChunk - 1) / kRowsPerChunk;
    p.rows.assign(size_t(2 * p.chunks), 0.0);
    if (p.kurtosis) p.cols.assign(size_t(4 * p.d * p.chunks), 0.0);
    for (int64_t c = 0; c < p.chunks; ++c) tasks.push_back({i, c});
  }
  // Every chunk of every probe in one parallel pass: the probes of a small
  // model share the cores instead of taking turns on one.
  const int64_t grain = std::max<int64_t>(1, int64_t(tasks.size()) / (4 * at::get_num_threads()));
  at::parallel_for(0, int64_t(tasks.size()), grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      Probe& p = probes[tasks[size_t(t)].probe];
      const int64_t c = tasks[size_t(t)].chunk, d = p.d;
      const int64_t r0 = c * kRowsPerChunk, n = std::min(kRowsPerChunk, p.N - r0);
      AT_DISPATCH_FLOATING_TYPES(p.h.scalar_type(), "dlab_residual_moments", [&] {
        const scalar_t* x = p.h.data_ptr<scalar_t>();
        cpu::kernel_table<scalar_t>().residual_moments(
            x + r0 * d, n, d, x, p.rows.data() + 2 * c,
            p.kurtosis ? p.cols.data() + 4 * d * c : nullptr);
      });
    }
  });
  std::vector<ResidualMoments> out;
  for (const Probe& p : probes) out.push_back(finish(p));
  return out;
}

ResidualMoments residual_moments(const torch::Tensor& h, bool with_kurtosis) {
  return residual_moments(std::vector<torch::Tensor>{h}, std::vector<bool>{with_kurtosis})[0];
}

}  // namespace dlab::kernels
