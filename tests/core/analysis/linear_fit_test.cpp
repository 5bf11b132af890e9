// The float64 least-squares fit behind the usefulness score.
#include "analysis/linear_fit.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace dlab {
namespace {

TEST(LinearFit, RecoversAnAffineMapExactly) {
  torch::manual_seed(1);
  const int64_t d = 12;
  const torch::Tensor W = torch::randn({d, d}, torch::kFloat64);
  const torch::Tensor b = torch::randn({d}, torch::kFloat64);
  LinearFitAccumulator acc(d);
  for (int batch = 0; batch < 3; ++batch) {
    // Far from the origin: the shift keeps the system well conditioned.
    const torch::Tensor x = 50.0 + torch::randn({4, 10, d}, torch::kFloat64);
    acc.add(x, torch::matmul(x, W) + b);
  }
  EXPECT_EQ(acc.count(), 120);
  const LinearFit fit = acc.solve();
  EXPECT_EQ(fit.ridge, 0.0);
  EXPECT_LT((fit.weight - W).abs().max().item<double>(), 1e-9);
  EXPECT_LT((fit.bias - b).abs().max().item<double>(), 1e-7);
  const LinearMap m = fit.map(/*transposed=*/true);
  EXPECT_TRUE(m.transposed);
  EXPECT_EQ(m.weight.scalar_type(), torch::kFloat32);
}

TEST(LinearFit, MatchesLstsqOnNoisyData) {
  torch::manual_seed(2);
  const int64_t d = 6, n = 200;
  const torch::Tensor x = torch::randn({n, d}, torch::kFloat64);
  const torch::Tensor y = torch::tanh(x * 2) + 0.1 * torch::randn({n, d}, torch::kFloat64);
  LinearFitAccumulator acc(d);
  acc.add(x.slice(0, 0, 77), y.slice(0, 0, 77));
  acc.add(x.slice(0, 77), y.slice(0, 77));
  const LinearFit fit = acc.solve();
  const torch::Tensor xa = torch::cat({x, torch::ones({n, 1}, torch::kFloat64)}, 1);
  const torch::Tensor theta = std::get<0>(torch::linalg_lstsq(xa, y, {}, {}));
  EXPECT_LT((fit.weight - theta.slice(0, 0, d)).abs().max().item<double>(), 1e-10);
  EXPECT_LT((fit.bias - theta[d]).abs().max().item<double>(), 1e-10);
}

TEST(LinearFit, RankDeficientInputUsesARidge) {
  torch::manual_seed(3);
  const int64_t d = 5;
  torch::Tensor x = torch::randn({40, d}, torch::kFloat64);
  x.select(1, 2).fill_(3.0);  // a constant channel: collinear with the bias column
  LinearFitAccumulator acc(d);
  acc.add(x, x * 2.0 + 1.0);
  const LinearFit fit = acc.solve();
  EXPECT_GT(fit.ridge, 0.0);
  EXPECT_TRUE(torch::isfinite(fit.weight).all().item<bool>());
  const torch::Tensor pred = torch::matmul(x, fit.weight) + fit.bias;
  EXPECT_LT((pred - (x * 2.0 + 1.0)).abs().max().item<double>(), 1e-4);
}

TEST(LinearFit, NoTokensIsAnError) {
  LinearFitAccumulator acc(4);
  EXPECT_THROW(acc.solve(), Error);
}

}  // namespace
}  // namespace dlab
