#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>

#include "common/error.h"
#include "metrics/layer_stats.h"
#include "reference.h"

namespace dlab {
namespace {

using test::Matrix;

double ref_token_variance(const Matrix& m) {
  double s = 0;
  for (const auto& row : m) s += test::ref_unbiased_variance(row);
  return s / double(m.size());
}

KurtosisStats ref_kurtosis_stats(const Matrix& m) {
  KurtosisStats k;
  for (const auto& row : m) k.token_mean += test::ref_kurtosis(row);
  k.token_mean /= double(m.size());
  k.channel_max = -1e300;
  std::vector<double> flat;
  for (size_t c = 0; c < m[0].size(); ++c) {
    const double kc = test::ref_kurtosis(test::column(m, c));
    k.channel_mean += kc;
    k.channel_max = std::max(k.channel_max, kc);
  }
  k.channel_mean /= double(m[0].size());
  for (const auto& row : m) flat.insert(flat.end(), row.begin(), row.end());
  k.flat = test::ref_kurtosis(flat);
  return k;
}

void expect_kurtosis_near(const KurtosisStats& got, const KurtosisStats& want, double rel) {
  EXPECT_NEAR(got.token_mean, want.token_mean, rel * std::abs(want.token_mean));
  EXPECT_NEAR(got.channel_mean, want.channel_mean, rel * std::abs(want.channel_mean));
  EXPECT_NEAR(got.channel_max, want.channel_max, rel * std::abs(want.channel_max));
  EXPECT_NEAR(got.flat, want.flat, rel * std::abs(want.flat));
}

TEST(ResidualStats, MatchesNaiveReferenceOnRandomInput) {
  torch::manual_seed(1);
  // Offsets per channel and heavy-ish tails so the four statistics differ.
  const torch::Tensor h = torch::randn({3, 5, 16}).pow(3) * 2.5 + torch::linspace(-4, 4, 16);
  const Matrix m = test::rows_of(h);
  EXPECT_NEAR(token_variance(h), ref_token_variance(m), 1e-5 * ref_token_variance(m));
  expect_kurtosis_near(kurtosis_stats(h), ref_kurtosis_stats(m), 1e-4);
}

TEST(ResidualStats, FlatRowsAndBatchedShapeAgree) {
  torch::manual_seed(2);
  const torch::Tensor h = torch::randn({2, 7, 9});
  const torch::Tensor rows = h.reshape({14, 9});
  EXPECT_DOUBLE_EQ(token_variance(h), token_variance(rows));
  const KurtosisStats a = kurtosis_stats(h), b = kurtosis_stats(rows);
  EXPECT_DOUBLE_EQ(a.token_mean, b.token_mean);
  EXPECT_DOUBLE_EQ(a.channel_mean, b.channel_mean);
  EXPECT_DOUBLE_EQ(a.channel_max, b.channel_max);
  EXPECT_DOUBLE_EQ(a.flat, b.flat);
}

TEST(ResidualStats, ConstantTokenTakesKurtosisThree) {
  torch::manual_seed(3);
  torch::Tensor h = torch::randn({6, 12});
  // Constants that are not exact in binary: a mean taken without care would
  // leave rounding noise and report its kurtosis instead of 3.
  h[1].fill_(0.1);
  h[4].fill_(1234.567);
  const Matrix m = test::rows_of(h);
  EXPECT_EQ(test::ref_kurtosis(m[1]), 3.0);
  expect_kurtosis_near(kurtosis_stats(h), ref_kurtosis_stats(m), 1e-4);
  EXPECT_NEAR(token_variance(h), ref_token_variance(m), 1e-5 * ref_token_variance(m));

  // Only the constant tokens: exactly 3, no rounding noise.
  EXPECT_EQ(kurtosis_stats(torch::stack({h[1], h[4], h[1]})).token_mean, 3.0);
}

TEST(ResidualStats, AllConstantInput) {
  const torch::Tensor h = torch::full({2, 3, 8}, 0.3f);
  EXPECT_EQ(token_variance(h), 0.0);
  const KurtosisStats k = kurtosis_stats(h);
  EXPECT_EQ(k.token_mean, 3.0);
  EXPECT_EQ(k.channel_mean, 3.0);
  EXPECT_EQ(k.channel_max, 3.0);
  EXPECT_EQ(k.flat, 3.0);
}

TEST(ResidualStats, ConstantChannelTakesKurtosisThree) {
  torch::manual_seed(4);
  torch::Tensor h = torch::randn({40, 5});
  h.select(1, 2).fill_(-7.7);  // channel 2 is the same for every token
  const Matrix m = test::rows_of(h);
  expect_kurtosis_near(kurtosis_stats(h), ref_kurtosis_stats(m), 1e-4);
  // One outlier token makes one channel's kurtosis the maximum.
  h[17][3] = 50.0;
  const Matrix m2 = test::rows_of(h);
  const KurtosisStats k = kurtosis_stats(h);
  EXPECT_NEAR(k.channel_max, test::ref_kurtosis(test::column(m2, 3)), 1e-4 * k.channel_max);
  expect_kurtosis_near(k, ref_kurtosis_stats(m2), 1e-4);
}

TEST(ResidualStats, NanInputIsNotHiddenBehindTheConstantRule) {
  torch::Tensor h = torch::randn({4, 6});
  h[2][1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(kurtosis_stats(h).flat));
  EXPECT_TRUE(std::isnan(token_variance(h)));
}

TEST(ResidualStats, GaussianKurtosisIsThree) {
  torch::manual_seed(5);
  const torch::Tensor h = torch::randn({256, 4096}) * 3.0 + 1.0;
  const KurtosisStats k = kurtosis_stats(h);
  EXPECT_NEAR(k.flat, 3.0, 0.03);
  EXPECT_NEAR(k.token_mean, 3.0, 0.03);    // 4096 channels per token
  EXPECT_NEAR(k.channel_mean, 3.0, 0.06);  // 256 tokens per channel: small-sample bias ~ -6/256
  EXPECT_NEAR(token_variance(h), 9.0, 0.05);
}

TEST(ResidualStats, LaplaceKurtosisIsSix) {
  torch::manual_seed(6);
  // Laplace = exponential with a random sign.
  const torch::Tensor e = torch::empty({256, 4096}).exponential_(1.0);
  const torch::Tensor sign = torch::randint(0, 2, {256, 4096}).to(torch::kFloat32) * 2 - 1;
  const torch::Tensor h = e * sign;
  const KurtosisStats k = kurtosis_stats(h);
  EXPECT_NEAR(k.flat, 6.0, 0.25);
  EXPECT_NEAR(k.token_mean, 6.0, 0.3);
  EXPECT_NEAR(token_variance(h), 2.0, 0.02);
}

TEST(ResidualStats, AcceptsGradAndOtherDtypes) {
  torch::manual_seed(7);
  const torch::Tensor base = torch::randn({4, 10});
  const torch::Tensor with_grad = base.clone().requires_grad_(true);
  EXPECT_DOUBLE_EQ(token_variance(with_grad), token_variance(base));
  const torch::Tensor as_double = base.to(torch::kFloat64);
  EXPECT_DOUBLE_EQ(kurtosis_stats(as_double).flat, kurtosis_stats(base).flat);
  const torch::Tensor strided = torch::randn({10, 4}).t();  // non-contiguous (4, 10)
  EXPECT_NEAR(token_variance(strided), token_variance(strided.contiguous()),
              1e-6);  // float32 order
}

TEST(ResidualStats, RejectsBadShapes) {
  EXPECT_THROW(token_variance(torch::randn({5})), Error);
  EXPECT_THROW(token_variance(torch::randn({5, 1})), Error);
  EXPECT_THROW(token_variance(torch::Tensor()), Error);
  EXPECT_THROW(kurtosis_stats(torch::randn({1, 8})), Error);  // one token: no channel kurtosis
}

TEST(ResidualStats, Timing) {
  torch::manual_seed(8);
  for (const auto& shape : std::vector<std::vector<int64_t>>{{8, 128, 512}, {8, 512, 512}}) {
    const torch::Tensor h = torch::randn(shape);
    token_variance(h);  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    const int reps = 5;
    for (int r = 0; r < reps; ++r) token_variance(h);
    const auto t1 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) kurtosis_stats(h);
    const auto t2 = std::chrono::steady_clock::now();
    const double var_ms = std::chrono::duration<double, std::milli>(t1 - t0).count() / reps;
    const double kurt_ms = std::chrono::duration<double, std::milli>(t2 - t1).count() / reps;
    std::printf("[timing] (%lld, %lld, %lld): token_variance %.2f ms, kurtosis_stats %.2f ms\n",
                (long long)shape[0], (long long)shape[1], (long long)shape[2], var_ms, kurt_ms);
    EXPECT_LT(kurt_ms, 2000.0);  // generous: a loop per token would take seconds
  }
}

}  // namespace
}  // namespace dlab
