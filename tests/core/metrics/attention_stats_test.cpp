#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "common/error.h"
#include "metrics/layer_stats.h"

namespace dlab {
namespace {

// Naive reference: loops over sequences, heads, queries i >= 1 and keys j <= i.
AttentionStats ref_attention_stats(const torch::Tensor& probs, const std::vector<double>& eps) {
  const torch::Tensor p = probs.to(torch::kFloat64).contiguous();
  const int64_t B = p.size(0), H = p.size(1), T = p.size(2);
  auto a = p.accessor<double, 4>();
  AttentionStats s;
  s.sparsity.assign(eps.size(), 0);
  s.head_sparsity.assign(H, std::vector<double>(eps.size(), 0));
  s.head_entropy.assign(H, 0);
  s.head_entropy_normalized.assign(H, 0);
  double entries = 0, queries = 0;
  for (int64_t h = 0; h < H; ++h) {
    double head_entries = 0, head_queries = 0;
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t i = 1; i < T; ++i) {
        double ent = 0;
        for (int64_t j = 0; j <= i; ++j) {
          const double v = a[b][h][i][j];
          if (v > 0) ent -= v * std::log(v);
          for (size_t e = 0; e < eps.size(); ++e) {
            if (v < eps[e]) s.head_sparsity[h][e] += 1;
          }
          head_entries += 1;
        }
        s.head_entropy[h] += ent;
        s.head_entropy_normalized[h] += ent / std::log(double(i + 1));
        head_queries += 1;
      }
    }
    for (size_t e = 0; e < eps.size(); ++e) {
      s.sparsity[e] += s.head_sparsity[h][e];
      s.head_sparsity[h][e] /= head_entries;
    }
    s.entropy += s.head_entropy[h];
    s.entropy_normalized += s.head_entropy_normalized[h];
    s.head_entropy[h] /= head_queries;
    s.head_entropy_normalized[h] /= head_queries;
    entries += head_entries;
    queries += head_queries;
  }
  for (double& v : s.sparsity) v /= entries;
  s.entropy /= queries;
  s.entropy_normalized /= queries;
  return s;
}

void expect_stats_near(const AttentionStats& got, const AttentionStats& want, double tol) {
  ASSERT_EQ(got.sparsity.size(), want.sparsity.size());
  for (size_t e = 0; e < want.sparsity.size(); ++e) {
    EXPECT_NEAR(got.sparsity[e], want.sparsity[e], 1e-12) << "eps #" << e;
  }
  EXPECT_NEAR(got.entropy, want.entropy, tol);
  EXPECT_NEAR(got.entropy_normalized, want.entropy_normalized, tol);
  ASSERT_EQ(got.head_sparsity.size(), want.head_sparsity.size());
  ASSERT_EQ(got.head_entropy.size(), want.head_entropy.size());
  ASSERT_EQ(got.head_entropy_normalized.size(), want.head_entropy_normalized.size());
  for (size_t h = 0; h < want.head_entropy.size(); ++h) {
    for (size_t e = 0; e < want.sparsity.size(); ++e) {
      EXPECT_NEAR(got.head_sparsity[h][e], want.head_sparsity[h][e], 1e-12);
    }
    EXPECT_NEAR(got.head_entropy[h], want.head_entropy[h], tol);
    EXPECT_NEAR(got.head_entropy_normalized[h], want.head_entropy_normalized[h], tol);
  }
}

// Causal softmax of random logits; `sharpness` spreads the logits so that
// many probabilities fall below the thresholds.
torch::Tensor causal_softmax(int64_t B, int64_t H, int64_t T, double sharpness) {
  const torch::Tensor logits = torch::randn({B, H, T, T}) * sharpness;
  const torch::Tensor upper = torch::ones({T, T}, torch::kBool).triu(1);
  return logits.masked_fill(upper, -INFINITY).softmax(-1);
}

TEST(AttentionStats, MatchesNaiveReferenceOnRandomInput) {
  torch::manual_seed(11);
  const std::vector<double> eps = {1e-3, 1e-2, 1e-1};
  for (double sharpness : {1.0, 4.0}) {
    const torch::Tensor p = causal_softmax(2, 3, 9, sharpness);
    const AttentionStats got = attention_stats(p, eps);
    expect_stats_near(got, ref_attention_stats(p, eps), 1e-5);
    EXPECT_EQ(got.eps, eps);
  }
  // Thresholds in any order and any number.
  const torch::Tensor p = causal_softmax(3, 2, 13, 3.0);
  const std::vector<double> other = {0.5, 1e-4, 0.02};
  expect_stats_near(attention_stats(p, other), ref_attention_stats(p, other), 1e-5);
}

TEST(AttentionStats, EntriesAboveTheDiagonalAreIgnored) {
  torch::manual_seed(12);
  const torch::Tensor p = causal_softmax(2, 2, 8, 2.0);
  const torch::Tensor garbage = p + torch::ones({8, 8}).triu(1) * 0.37;
  const AttentionStats a = attention_stats(p), b = attention_stats(garbage);
  for (size_t e = 0; e < a.sparsity.size(); ++e) EXPECT_EQ(a.sparsity[e], b.sparsity[e]);
  EXPECT_NEAR(a.entropy, b.entropy, 1e-12);
  EXPECT_NEAR(a.entropy_normalized, b.entropy_normalized, 1e-12);
}

TEST(AttentionStats, UniformAttention) {
  const int64_t T = 16;
  // A_ij = 1/(i+1) for j <= i.
  const torch::Tensor row = 1.0 / torch::arange(1, T + 1, torch::kFloat32);  // (T)
  const torch::Tensor p = (torch::ones({T, T}).tril() * row.unsqueeze(1)).expand({2, 3, T, T});
  const AttentionStats s = attention_stats(p, {1e-3, 0.07, 0.3});

  double want_entropy = 0;
  for (int64_t i = 1; i < T; ++i) want_entropy += std::log(double(i + 1));
  want_entropy /= double(T - 1);
  EXPECT_NEAR(s.entropy, want_entropy, 1e-5);
  EXPECT_NEAR(s.entropy_normalized, 1.0, 1e-5);
  for (double h : s.head_entropy_normalized) EXPECT_NEAR(h, 1.0, 1e-5);

  // Row i has i+1 entries of 1/(i+1): below 0.07 for i+1 >= 15, below 0.3 for i+1 >= 4.
  const double entries = double(T * (T + 1) / 2 - 1);
  EXPECT_EQ(s.sparsity[0], 0.0);
  EXPECT_NEAR(s.sparsity[1], (15.0 + 16.0) / entries, 1e-12);
  double below_03 = 0;
  for (int64_t n = 4; n <= T; ++n) below_03 += double(n);
  EXPECT_NEAR(s.sparsity[2], below_03 / entries, 1e-12);
}

TEST(AttentionStats, OneHotAttentionAndPerHeadValues) {
  const int64_t B = 2, H = 2, T = 10;
  torch::Tensor p = torch::zeros({B, H, T, T});
  // Head 0: one-hot on key i/2; head 1: uniform over j <= i.
  for (int64_t i = 0; i < T; ++i) p.index_put_({torch::indexing::Slice(), 0, i, i / 2}, 1.0);
  for (int64_t i = 0; i < T; ++i) {
    p.index_put_({torch::indexing::Slice(), 1, i, torch::indexing::Slice(0, i + 1)},
                 1.0 / double(i + 1));
  }
  const AttentionStats s = attention_stats(p);
  EXPECT_EQ(s.head_entropy[0], 0.0);
  EXPECT_EQ(s.head_entropy_normalized[0], 0.0);
  EXPECT_NEAR(s.head_entropy_normalized[1], 1.0, 1e-5);
  // Head 0: of the M = T(T+1)/2 - 1 = 54 causal entries of rows 1..9, 9 are ones.
  const double M = 54;
  for (size_t e = 0; e < 3; ++e) EXPECT_NEAR(s.head_sparsity[0][e], (M - 9) / M, 1e-12);
  // Head 1 has nothing below 1e-3 or 1e-2 (smallest entry 1/10), and nothing
  // below 0.1 either (1/10 is not < 0.1).
  for (size_t e = 0; e < 3; ++e) EXPECT_EQ(s.head_sparsity[1][e], 0.0);
  EXPECT_NEAR(s.sparsity[0], (M - 9) / (2 * M), 1e-12);
  EXPECT_NEAR(s.entropy, 0.5 * s.head_entropy[1], 1e-12);
  expect_stats_near(s, ref_attention_stats(p, {1e-3, 1e-2, 1e-1}), 1e-5);
}

TEST(AttentionStats, RejectsBadShapes) {
  EXPECT_THROW(attention_stats(torch::rand({2, 4, 4})), Error);
  EXPECT_THROW(attention_stats(torch::rand({1, 2, 4, 5})), Error);
  EXPECT_THROW(attention_stats(torch::ones({1, 2, 1, 1})), Error);  // T = 1: no query i >= 1
}

TEST(AttentionStats, Timing) {
  torch::manual_seed(13);
  const torch::Tensor p = causal_softmax(8, 4, 128, 2.0);
  attention_stats(p);  // warm-up (builds the causal index for T = 128)
  const int reps = 20;
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r) attention_stats(p);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
      reps;
  std::printf("[timing] attention_stats (8, 4, 128, 128): %.2f ms\n", ms);
  EXPECT_LT(ms, 250.0);  // a few ms expected; generous on a shared 2-core machine
}

}  // namespace
}  // namespace dlab
