// Jacobians against exact cases and central finite differences (float64).
#include "analysis/jacobian.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "analysis_test_util.h"
#include "common/error.h"

namespace dlab {
namespace {

Transformer float64_model(uint64_t seed = 11) {
  ModelConfig cfg = test::tiny_config(/*n_layers=*/2);
  cfg.d_model = 8;
  cfg.n_heads = 2;
  cfg.n_kv_heads = 1;
  cfg.d_ff = 12;
  Transformer m = test::tiny_model(cfg, seed, /*gain=*/6.0);
  m->to(torch::kFloat64);
  return m;
}

torch::Tensor hidden(int64_t B, int64_t T, int64_t d, uint64_t seed = 5) {
  torch::manual_seed(seed);
  return torch::randn({B, T, d}, torch::kFloat64);
}

TEST(Jacobian, IdentityBlockGivesExactlyI) {
  Transformer m = float64_model();
  test::make_identity(m, 1);
  const torch::Tensor h = hidden(2, 4, 8);
  const JacobianResult r = jacobian_rowwise(m, 1, h);
  EXPECT_TRUE(torch::equal(r.matrix, torch::eye(8, torch::kFloat32)));
  EXPECT_EQ(r.summary.deviation, 0.0);
  EXPECT_EQ(r.summary.offdiag, 0.0);
  EXPECT_EQ(r.summary.diag_mean, 1.0);
  const JacobianResult tok = jacobian_token(m, 1, h, 1, 2);
  EXPECT_TRUE(torch::equal(tok.matrix, torch::eye(8, torch::kFloat32)));
}

TEST(Jacobian, RowwiseMatchesFiniteDifferences) {
  Transformer m = float64_model();
  const int64_t B = 2, T = 4, d = 8;
  const torch::Tensor h = hidden(B, T, d);
  const JacobianResult r = jacobian_rowwise(m, 0, h, /*vjp_batch=*/3);  // 3 does not divide 8
  torch::NoGradGuard no_grad;
  const double eps = 1e-5;
  double worst = 0;
  for (int64_t j = 0; j < d; ++j) {
    // +eps on input channel j of EVERY token; S_i = Σ_{b,t} y[b,t,i]
    torch::Tensor dir = torch::zeros_like(h);
    dir.select(2, j).fill_(eps);
    const torch::Tensor plus = m->block_forward(0, 0, h + dir).sum(torch::IntArrayRef{0, 1});
    const torch::Tensor minus = m->block_forward(0, 0, h - dir).sum(torch::IntArrayRef{0, 1});
    const torch::Tensor fd = (plus - minus) / (2 * eps) / double(B * T);  // (d) over i
    for (int64_t i = 0; i < d; ++i) {
      const double a = r.matrix[j][i].item<double>(), n = fd[i].item<double>();
      worst = std::max(worst, std::abs(a - n) / std::max(1.0, std::abs(n)));
    }
  }
  // The matrix is returned in float32: compare at float32 resolution of O(1) entries.
  EXPECT_LT(worst, 1e-6);
}

TEST(Jacobian, BatchedVjpsEqualOneAtATime) {
  Transformer m = float64_model(3);
  const torch::Tensor h = hidden(2, 5, 8, 9);
  const JacobianResult one = jacobian_rowwise(m, 1, h, /*vjp_batch=*/1);
  const JacobianResult many = jacobian_rowwise(m, 1, h, /*vjp_batch=*/32);
  EXPECT_TRUE(torch::allclose(one.matrix, many.matrix, /*rtol=*/1e-6, /*atol=*/1e-7));
}

TEST(Jacobian, TokenJacobianMatchesFiniteDifferences) {
  Transformer m = float64_model();
  const torch::Tensor h = hidden(2, 5, 8);
  const int b = 1, t = 3;
  const JacobianResult r = jacobian_token(m, 0, h, b, t);
  torch::NoGradGuard no_grad;
  const double eps = 1e-5;
  double worst = 0;
  for (int64_t j = 0; j < 8; ++j) {
    torch::Tensor dir = torch::zeros_like(h);
    dir[b][t][j] = eps;
    const torch::Tensor fd =
        (m->block_forward(0, 0, h + dir)[b][t] - m->block_forward(0, 0, h - dir)[b][t]) / (2 * eps);
    for (int64_t i = 0; i < 8; ++i) {
      worst = std::max(worst, std::abs(r.matrix[j][i].item<double>() - fd[i].item<double>()) /
                                  std::max(1.0, std::abs(fd[i].item<double>())));
    }
  }
  EXPECT_LT(worst, 1e-6);
  // Cross-token terms make the row-wise Jacobian differ from any single token's.
  EXPECT_FALSE(torch::allclose(r.matrix, jacobian_rowwise(m, 0, h).matrix, 1e-3, 1e-4));
}

TEST(Jacobian, SummariesOfKnownMatrices) {
  const JacobianSummary id = jacobian_summarize(torch::eye(4, torch::kFloat64));
  EXPECT_EQ(id.deviation, 0.0);
  EXPECT_EQ(id.offdiag, 0.0);
  EXPECT_DOUBLE_EQ(id.diag_mean, 1.0);
  EXPECT_DOUBLE_EQ(id.diag_std, 0.0);
  EXPECT_DOUBLE_EQ(id.frobenius, 2.0);
  EXPECT_NEAR(id.spectral, 1.0, 1e-12);

  const JacobianSummary dg =
      jacobian_summarize(torch::diag(torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64)));
  EXPECT_NEAR(dg.deviation, std::sqrt(0.0 + 1 + 4 + 9) / 4.0, 1e-12);
  EXPECT_DOUBLE_EQ(dg.offdiag, 0.0);
  EXPECT_DOUBLE_EQ(dg.diag_mean, 2.5);
  EXPECT_NEAR(dg.diag_std, std::sqrt(5.0 / 3.0), 1e-12);  // unbiased
  EXPECT_NEAR(dg.spectral, 4.0, 1e-12);

  // rank one u vᵀ: spectral norm |u||v|, every entry off the diagonal counted in offdiag
  const torch::Tensor u = torch::tensor({1.0, 2.0, 2.0}, torch::kFloat64);
  const torch::Tensor v = torch::tensor({3.0, 0.0, 4.0}, torch::kFloat64);
  const torch::Tensor R = torch::outer(u, v);
  const JacobianSummary r1 = jacobian_summarize(R);
  EXPECT_NEAR(r1.spectral, 3.0 * 5.0, 1e-12);
  EXPECT_NEAR(r1.frobenius, 15.0, 1e-12);
  const double off = std::sqrt(15.0 * 15.0 - (3.0 * 3.0 + 0.0 + 8.0 * 8.0));
  EXPECT_NEAR(r1.offdiag, off / std::sqrt(6.0), 1e-12);
}

TEST(Jacobian, BadArgumentsAreClearErrors) {
  Transformer m = float64_model();
  const torch::Tensor h = hidden(1, 3, 8);
  EXPECT_THROW(jacobian_rowwise(m, 2, h), Error);
  EXPECT_THROW(jacobian_rowwise(m, 0, hidden(1, 3, 5)), Error);
  EXPECT_THROW(jacobian_token(m, 0, h, 0, 3), Error);
}

}  // namespace
}  // namespace dlab
