// The CUDA statistics kernels (gpu/stats_kernels.h) against their CPU
// reference (core/metrics/row_stats.h) on fresh random inputs: fp32 inputs,
// float64 sums, 1e-5 relative. Every output element is checked, and the
// outputs start as NaN so an element a kernel forgets to write fails.
// Skipped, with the reason, where no GPU is visible.
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <vector>

#include "gpu/stats_kernels.h"
#include "metrics/row_stats.h"

namespace dlab {
namespace {

#define SKIP_WITHOUT_GPU()                                                                \
  do {                                                                                    \
    int n = 0;                                                                            \
    const cudaError_t e = cudaGetDeviceCount(&n);                                         \
    if (e != cudaSuccess || n == 0)                                                       \
      GTEST_SKIP() << "no CUDA device: "                                                  \
                   << (e != cudaSuccess ? gpu::cuda_error_text(int(e)) : "none visible"); \
  } while (0)

void check(int status) { ASSERT_EQ(status, 0) << gpu::cuda_error_text(status); }

// A host tensor's values on the device (freed by the caller).
float* to_device(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kFloat32).contiguous();
  float* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, sizeof(float) * size_t(c.numel())), cudaSuccess);
  EXPECT_EQ(
      cudaMemcpy(p, c.data_ptr<float>(), sizeof(float) * size_t(c.numel()), cudaMemcpyHostToDevice),
      cudaSuccess);
  return p;
}

std::vector<double> from_device(const double* p, size_t n) {
  std::vector<double> v(n);
  EXPECT_EQ(cudaMemcpy(v.data(), p, sizeof(double) * n, cudaMemcpyDeviceToHost), cudaSuccess);
  return v;
}

double* nan_filled(size_t n) {
  double* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, sizeof(double) * n), cudaSuccess);
  const std::vector<double> nan(n, std::nan(""));
  EXPECT_EQ(cudaMemcpy(p, nan.data(), sizeof(double) * n, cudaMemcpyHostToDevice), cudaSuccess);
  return p;
}

void expect_rel(double got, double want, const std::string& what) {
  ASSERT_TRUE(std::isfinite(got)) << what << " not written";
  EXPECT_LE(std::abs(got - want), 1e-5 * std::max(1.0, std::abs(want)))
      << what << ": kernel " << got << ", CPU " << want;
}

TEST(GpuKernels, TokenMomentsEqualTheCpuReference) {
  SKIP_WITHOUT_GPU();
  const int64_t seed = int64_t(time(nullptr));  // fresh inputs each run
  std::printf("seed %lld\n", (long long)seed);
  torch::manual_seed(seed);
  for (const auto& [N, d] :
       std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {37, 96}, {4096, 1024}}) {
    std::vector<torch::Tensor> probes;
    std::vector<float*> device;
    for (int p = 0; p < 5; ++p) {
      torch::Tensor h = torch::randn({N, d}) * (p + 1);
      h.select(1, 0).mul_(10);  // a heavy channel
      probes.push_back(h);
      device.push_back(to_device(h));
    }
    std::vector<const float*> rows(device.begin(), device.end());
    double* out = nan_filled(2 * probes.size());
    check(gpu::token_moment_sums(rows.data(), int(rows.size()), N, d, out, nullptr));
    const std::vector<double> got = from_device(out, 2 * probes.size());
    for (size_t p = 0; p < probes.size(); ++p) {
      const TokenMoments want = token_moments(probes[p]);
      expect_rel(got[2 * p] / double(N), want.variance, "variance N=" + std::to_string(N));
      expect_rel(got[2 * p + 1] / double(N), want.kurtosis, "kurtosis N=" + std::to_string(N));
    }
    for (float* p : device) cudaFree(p);
    cudaFree(out);
  }
}

TEST(GpuKernels, AttentionSumsEqualTheCpuReference) {
  SKIP_WITHOUT_GPU();
  const int64_t seed = int64_t(time(nullptr)) + 1;
  std::printf("seed %lld\n", (long long)seed);
  torch::manual_seed(seed);
  const std::vector<double> eps{1e-3, 1e-2, 1e-1};
  std::vector<double> log_eps;
  for (double e : eps) log_eps.push_back(std::log(e));
  struct Shape {
    int64_t B, H, G, T, dh;
  };
  for (const Shape s :
       {Shape{2, 4, 4, 33, 16}, Shape{3, 8, 2, 300, 64}, Shape{1, 2, 1, 1030, 128}}) {
    const torch::Tensor q = torch::randn({s.B, s.H, s.T, s.dh}) * 2;
    const torch::Tensor k = torch::randn({s.B, s.G, s.T, s.dh});
    const double scale = 1.0 / std::sqrt(double(s.dh));
    float* dq = to_device(q);
    float* dk = to_device(k);
    const size_t width = 2 + eps.size();
    double* sums = nan_filled(size_t(s.H) * width);
    check(gpu::attention_stat_sums(dq, dk, s.B, s.H, s.G, s.T, s.dh, scale, log_eps.data(),
                                   int(eps.size()), sums, nullptr));
    const std::vector<double> got = from_device(sums, size_t(s.H) * width);
    const torch::Tensor want = attention_stat_sums_qk(q, k, scale, eps);
    for (int64_t h = 0; h < s.H; ++h) {
      for (size_t c = 0; c < width; ++c) {
        expect_rel(got[size_t(h) * width + c], want[h][int64_t(c)].item<double>(),
                   "T=" + std::to_string(s.T) + " head " + std::to_string(h) + " column " +
                       std::to_string(c));
      }
    }
    cudaFree(dq);
    cudaFree(dk);
    cudaFree(sums);
  }
}

TEST(GpuKernels, BadSizesAreRefusedNotLaunched) {
  SKIP_WITHOUT_GPU();
  const double log_eps[1] = {std::log(1e-2)};
  EXPECT_NE(
      gpu::attention_stat_sums(nullptr, nullptr, 1, 4, 3, 8, 4, 0.5, log_eps, 1, nullptr, nullptr),
      0);  // 4 % 3
  EXPECT_NE(gpu::attention_stat_sums(nullptr, nullptr, 1, 4, 4, 8, 512, 0.5, log_eps, 1, nullptr,
                                     nullptr),
            0);                                                              // dh > 256
  EXPECT_NE(gpu::token_moment_sums(nullptr, 1, 4, 1, nullptr, nullptr), 0);  // d < 2
}

}  // namespace
}  // namespace dlab
