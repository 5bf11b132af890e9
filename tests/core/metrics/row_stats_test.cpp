// The row-by-row statistics (metrics/row_stats.h), whose arithmetic is the one
// the CUDA kernels run (gpu/stats_math.h): equal to the tensor statistics of
// metrics/residual_stats.h and metrics/attention_stats.h on random inputs.
#include "metrics/row_stats.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "common/error.h"
#include "gpu/stats_math.h"
#include "metrics/attention_stats.h"
#include "metrics/residual_stats.h"

namespace dlab {
namespace {

void expect_rel(double got, double want, double rel, const char* what) {
  EXPECT_LE(std::abs(got - want), rel * std::max(1.0, std::abs(want)))
      << what << ": got " << got << ", want " << want;
}

TEST(RowStats, TokenMomentsEqualTheTensorStatistics) {
  torch::manual_seed(11);
  for (const double scale : {1e-3, 1.0, 40.0}) {
    // Heavy-tailed channels (a few large ones), as trained residual streams have.
    torch::Tensor h = torch::randn({3, 37, 96}) * scale;
    h.select(2, 5).mul_(20);
    h[1][4].fill_(0.25);  // a constant token: kurtosis 3 by the rule
    const TokenMoments m = token_moments(h);
    expect_rel(m.variance, token_variance(h), 1e-6, "variance");
    expect_rel(m.kurtosis, kurtosis_stats(h).token_mean, 1e-6, "kurtosis");
  }
}

TEST(RowStats, TokenMomentsRefuseTooFewChannels) {
  EXPECT_THROW(token_moments(torch::randn({4, 1})), Error);
  EXPECT_THROW(token_moments(torch::randn({4})), Error);
}

// The reference: probabilities formed in full, then attention_stats().
AttentionStats stats_from_probs(const torch::Tensor& q, const torch::Tensor& k, double scale,
                                const std::vector<double>& eps) {
  const int64_t H = q.size(1), G = k.size(1), T = q.size(2);
  const torch::Tensor kk = k.repeat_interleave(H / G, /*dim=*/1);  // (B, H, T, dh)
  torch::Tensor s =
      torch::matmul(q.to(torch::kFloat64), kk.to(torch::kFloat64).transpose(-2, -1)) * scale;
  const torch::Tensor causal = torch::ones({T, T}, torch::kBool).tril();
  s = s.masked_fill(causal.logical_not(), -INFINITY);
  return attention_stats(torch::softmax(s, -1), eps);
}

TEST(RowStats, AttentionSumsFromQueriesAndKeysEqualTheProbabilityStatistics) {
  torch::manual_seed(12);
  const std::vector<double> eps{1e-3, 1e-2, 1e-1};
  struct Shape {
    int64_t B, H, G, T, dh;
    double spread;  // larger: peakier attention
  };
  for (const Shape sh :
       {Shape{2, 4, 4, 33, 16, 1.0}, Shape{3, 4, 2, 50, 8, 3.0}, Shape{1, 6, 1, 17, 32, 0.2}}) {
    const torch::Tensor q = torch::randn({sh.B, sh.H, sh.T, sh.dh}) * sh.spread;
    const torch::Tensor k = torch::randn({sh.B, sh.G, sh.T, sh.dh});
    const double scale = 1.0 / std::sqrt(double(sh.dh));
    const torch::Tensor sums = attention_stat_sums_qk(q, k, scale, eps);
    ASSERT_EQ(sums.size(0), sh.H);
    ASSERT_EQ(sums.size(1), 2 + int64_t(eps.size()));
    const AttentionStats got = attention_stats_from_sums(sums, sh.B, sh.T, eps);
    const AttentionStats want = stats_from_probs(q, k, scale, eps);
    expect_rel(got.entropy, want.entropy, 1e-6, "entropy");
    expect_rel(got.entropy_normalized, want.entropy_normalized, 1e-6, "normalized entropy");
    for (size_t e = 0; e < eps.size(); ++e)
      expect_rel(got.sparsity[e], want.sparsity[e], 1e-6, "sparsity");
    for (int64_t h = 0; h < sh.H; ++h) {
      expect_rel(got.head_entropy[size_t(h)], want.head_entropy[size_t(h)], 1e-6, "head entropy");
      for (size_t e = 0; e < eps.size(); ++e)
        expect_rel(got.head_sparsity[size_t(h)][e], want.head_sparsity[size_t(h)][e], 1e-6,
                   "head sparsity");
    }
  }
}

TEST(RowStats, AttentionSumsRefuseBadShapes) {
  const torch::Tensor q = torch::randn({1, 4, 8, 4});
  EXPECT_THROW(attention_stat_sums_qk(q, torch::randn({1, 3, 8, 4}), 0.5, {1e-2}), Error);  // 4 % 3
  EXPECT_THROW(attention_stat_sums_qk(q, torch::randn({1, 2, 7, 4}), 0.5, {1e-2}), Error);  // T
  EXPECT_THROW(
      attention_stat_sums_qk(torch::randn({1, 4, 1, 4}), torch::randn({1, 4, 1, 4}), 0.5, {1e-2}),
      Error);  // T < 2
  EXPECT_THROW(attention_stat_sums_qk(q, q, 0.5, std::vector<double>(9, 1e-2)), Error);
}

// The kernels split a row across a warp's lanes and merge the lanes' states:
// any split and merge order gives the sequential result.
TEST(RowStats, SplitAndMergedStatesEqualTheSequentialOnes) {
  torch::manual_seed(13);
  const torch::Tensor x = torch::randn({301}, torch::kFloat64) * 3;
  const double* v = x.data_ptr<double>();
  gpu::SoftmaxState whole;
  gpu::PowerSums whole_ps;
  for (int j = 0; j < 301; ++j) {
    gpu::softmax_state_add(whole, v[j]);
    gpu::power_sums_add(whole_ps, v[j] - v[0]);
  }
  for (const int lanes : {2, 7, 32}) {
    std::vector<gpu::SoftmaxState> part(static_cast<size_t>(lanes));
    std::vector<gpu::PowerSums> part_ps(static_cast<size_t>(lanes));
    for (int j = 0; j < 301; ++j) {  // strided, as lanes read a row
      gpu::softmax_state_add(part[size_t(j % lanes)], v[j]);
      gpu::power_sums_add(part_ps[size_t(j % lanes)], v[j] - v[0]);
    }
    // Tree merge, as the shuffles do (lane l takes lane l + offset).
    for (int offset = 1; offset < lanes; offset *= 2) {
      for (int l = 0; l + offset < lanes; l += 2 * offset) {
        gpu::softmax_state_merge(part[size_t(l)], part[size_t(l + offset)]);
        gpu::power_sums_merge(part_ps[size_t(l)], part_ps[size_t(l + offset)]);
      }
    }
    expect_rel(gpu::softmax_state_lse(part[0]), gpu::softmax_state_lse(whole), 1e-12, "lse");
    expect_rel(gpu::softmax_state_entropy(part[0]), gpu::softmax_state_entropy(whole), 1e-12,
               "entropy");
    double var_a, kurt_a, var_b, kurt_b;
    gpu::row_moments_finish(part_ps[0], &var_a, &kurt_a);
    gpu::row_moments_finish(whole_ps, &var_b, &kurt_b);
    expect_rel(var_a, var_b, 1e-12, "variance");
    expect_rel(kurt_a, kurt_b, 1e-12, "kurtosis");
  }
  // An empty state (a lane with no key) merges as nothing.
  gpu::SoftmaxState empty, copy = whole;
  gpu::softmax_state_merge(copy, empty);
  EXPECT_EQ(copy.z, whole.z);
  gpu::softmax_state_merge(empty, whole);
  EXPECT_EQ(empty.w, whole.w);
}

}  // namespace
}  // namespace dlab
