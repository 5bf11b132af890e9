#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "common/error.h"
#include "metrics/layer_stats.h"

namespace dlab {
namespace {

using Named = std::vector<std::pair<std::string, torch::Tensor>>;

TEST(WeightSparsity, BlockWeightNames) {
  for (const char* name :
       {"model.layers.0.self_attn.q_proj.weight", "model.layers.3.self_attn.o_proj.weight",
        "model.layers.11.mlp.up_proj.weight", "model.layers.2.mlp.gate.weight",
        "model.layers.2.mlp.experts.7.down_proj.weight",
        "model.layers.5.mlp.shared_expert.gate_proj.weight"}) {
    EXPECT_TRUE(is_block_weight(name)) << name;
  }
  for (const char* name :
       {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
        "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
        "model.layers.0.self_attn.q_proj.bias", "model.layers.0.self_attn.weight",
        "model.layers.0.mlp.weight", "model.layers.x.mlp.up_proj.weight",
        "model.layers..mlp.up_proj.weight", "layers.0.mlp.up_proj.weight",
        "model.layers.0.mlp_up.weight", "model.layers.0"}) {
    EXPECT_FALSE(is_block_weight(name)) << name;
  }
  EXPECT_EQ(block_index("model.layers.0.self_attn.q_proj.weight"), 0);
  EXPECT_EQ(block_index("model.layers.17.input_layernorm.weight"), 17);
  EXPECT_EQ(block_index("model.layers.4.mlp.experts.12.up_proj.weight"), 4);
  EXPECT_EQ(block_index("model.embed_tokens.weight"), -1);
  EXPECT_EQ(block_index("model.layers.x.mlp.weight"), -1);
  EXPECT_EQ(block_index("model.layers.3"), -1);
  EXPECT_EQ(block_index("lm_head.weight"), -1);
}

// A (rows, cols) matrix of 0.5 whose first n1 entries are `v1` and next n2 entries `v2`.
torch::Tensor matrix_with(int64_t rows, int64_t cols, int64_t n1, double v1, int64_t n2 = 0,
                          double v2 = 0) {
  torch::Tensor m = torch::full({rows * cols}, 0.5f);
  m.narrow(0, 0, n1).fill_(v1);
  m.narrow(0, n1, n2).fill_(v2);
  return m.reshape({rows, cols});
}

TEST(WeightSparsity, ConstructedFractionsAndBlockAssignment) {
  // Block 0: q_proj (100 entries) with 10 at 5e-5 and 20 at -5e-4; down_proj (50) with 5 zeros.
  // Block 1: router (40) with 4 at 5e-3; an expert (60) with 6 at -5e-5 and 6 at 5e-4.
  // Everything else is 0.5. Embeddings, norms, LM head, biases and a 1-D "weight"
  // under mlp are tiny but must not count.
  const Named params = {
      {"model.embed_tokens.weight", torch::zeros({30, 8})},
      {"model.layers.0.input_layernorm.weight", torch::zeros({8})},
      {"model.layers.0.self_attn.q_proj.weight", matrix_with(10, 10, 10, 5e-5, 20, -5e-4)},
      {"model.layers.0.mlp.down_proj.weight", matrix_with(5, 10, 5, 0.0)},
      {"model.layers.1.post_attention_layernorm.weight", torch::zeros({8})},
      {"model.layers.1.mlp.gate.weight", matrix_with(4, 10, 4, 5e-3)},
      {"model.layers.1.mlp.experts.3.up_proj.weight", matrix_with(6, 10, 6, -5e-5, 6, 5e-4)},
      {"model.layers.1.mlp.odd_vector.weight", torch::zeros({16})},
      {"model.layers.1.self_attn.q_proj.bias", torch::zeros({4, 4})},
      {"model.norm.weight", torch::zeros({8})},
      {"lm_head.weight", torch::zeros({30, 8})},
  };
  const WeightSparsity w = weight_sparsity(params, /*n_layers=*/2);
  ASSERT_EQ(w.per_block.size(), 2u);
  ASSERT_EQ(w.eps, (std::vector<double>{1e-4, 1e-3, 1e-2}));
  // Block 0: 150 entries; < 1e-4: 10 + 5 zeros; < 1e-3: + 20; < 1e-2: same.
  EXPECT_DOUBLE_EQ(w.per_block[0][0], 15.0 / 150);
  EXPECT_DOUBLE_EQ(w.per_block[0][1], 35.0 / 150);
  EXPECT_DOUBLE_EQ(w.per_block[0][2], 35.0 / 150);
  // Block 1: 100 entries; < 1e-4: 6; < 1e-3: 12; < 1e-2: 16.
  EXPECT_DOUBLE_EQ(w.per_block[1][0], 6.0 / 100);
  EXPECT_DOUBLE_EQ(w.per_block[1][1], 12.0 / 100);
  EXPECT_DOUBLE_EQ(w.per_block[1][2], 16.0 / 100);
  EXPECT_DOUBLE_EQ(w.overall[0], 21.0 / 250);
  EXPECT_DOUBLE_EQ(w.overall[1], 47.0 / 250);
  EXPECT_DOUBLE_EQ(w.overall[2], 51.0 / 250);

  // Histogram over [-8, 1] in 40 bins of 0.225: log10 5e-5 = -4.30 -> bin 16,
  // log10 5e-4 = -3.30 -> bin 20, log10 5e-3 = -2.30 -> bin 25, log10 0.5 = -0.30 -> bin 34,
  // zeros -> bin 0.
  ASSERT_EQ(w.hist_counts.size(), 40u);
  ASSERT_EQ(w.hist_edges.size(), 41u);
  EXPECT_DOUBLE_EQ(w.hist_edges.front(), -8.0);
  EXPECT_DOUBLE_EQ(w.hist_edges.back(), 1.0);
  EXPECT_NEAR(w.hist_edges[4], -7.1, 1e-12);
  std::vector<double> want(40, 0.0);
  want[0] = 5;
  want[16] = 16;
  want[20] = 26;
  want[25] = 4;
  want[34] = 250 - 5 - 16 - 26 - 4;
  EXPECT_EQ(w.hist_counts, want);
}

TEST(WeightSparsity, MatchesNaiveReferenceOnRandomWeights) {
  torch::manual_seed(21);
  const int L = 3;
  Named params;
  for (int i = 0; i < L; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    // Log-uniform magnitudes over 1e-9 .. 1e2 hit every bin and both clamps.
    for (const char* m : {"self_attn.q_proj", "self_attn.o_proj", "mlp.down_proj"}) {
      const torch::Tensor mag = torch::pow(10.0, torch::rand({7 + i, 13}) * 11 - 9);
      const torch::Tensor sign = torch::randint(0, 2, {7 + i, 13}).to(torch::kFloat32) * 2 - 1;
      params.push_back({p + m + ".weight", mag * sign});
    }
  }
  params[1].second[0][0] = 0.0;
  const std::vector<double> eps = {1e-5, 3e-4, 2e-2, 0.5};
  const int bins = 30;
  const double lo = -7, hi = 0.5;
  const WeightSparsity w = weight_sparsity(params, L, eps, bins, lo, hi);

  // Reference: loops over float values read back as double.
  std::vector<std::vector<double>> below(L, std::vector<double>(eps.size(), 0));
  std::vector<double> entries(L, 0), hist(bins, 0);
  int64_t near_edge = 0;
  for (const auto& [name, t] : params) {
    const int b = name[13] - '0';
    const torch::Tensor v = t.to(torch::kFloat64).reshape({-1}).contiguous();
    for (int64_t k = 0; k < v.numel(); ++k) {
      const double a = std::abs(v.data_ptr<double>()[k]);
      for (size_t e = 0; e < eps.size(); ++e) below[b][e] += a < eps[e] ? 1 : 0;
      entries[b] += 1;
      const double pos = (std::log10(a) - lo) * bins / (hi - lo);
      if (std::isfinite(pos) && std::abs(pos - std::round(pos)) < 1e-4) ++near_edge;
      hist[std::clamp<int>(int(std::floor(std::max(pos, -1.0))), 0, bins - 1)] += 1;
    }
  }
  double total = 0;
  for (int b = 0; b < L; ++b) {
    total += entries[b];
    for (size_t e = 0; e < eps.size(); ++e) {
      EXPECT_DOUBLE_EQ(w.per_block[b][e], below[b][e] / entries[b]) << b << " " << e;
    }
  }
  for (size_t e = 0; e < eps.size(); ++e) {
    double sum = 0;
    for (int b = 0; b < L; ++b) sum += below[b][e];
    EXPECT_DOUBLE_EQ(w.overall[e], sum / total);
  }
  // Float32 log10 may move an entry that sits on a bin edge to its neighbour.
  double moved = 0, count = 0;
  for (int k = 0; k < bins; ++k) {
    moved += std::abs(w.hist_counts[k] - hist[k]);
    count += w.hist_counts[k];
  }
  EXPECT_LE(moved, 2.0 * double(near_edge));
  EXPECT_EQ(count, total);  // every entry lands in exactly one bin
  EXPECT_GT(w.hist_counts.front(), 0);
  EXPECT_GT(w.hist_counts.back(), 0);
}

TEST(WeightSparsity, ThresholdIsStrict) {
  // |w| == eps is not below eps: half the entries are 1e-3, half 1e-2 (as float32).
  torch::Tensor m = torch::full({4, 4}, 1e-3f);
  m.narrow(0, 0, 2).fill_(-1e-2);
  const WeightSparsity w =
      weight_sparsity({{"model.layers.0.self_attn.v_proj.weight", m}}, 1, {1e-3, 1e-2, 0.011});
  EXPECT_EQ(w.per_block[0], (std::vector<double>{0.0, 0.5, 1.0}));
}

TEST(WeightSparsity, LargeMatrixCountsAreExact) {
  // 3M entries in one matrix (more than one chunk); a float32 histogram would
  // stop counting exactly past 2^24 per bin, int64 counts do not.
  torch::Tensor big = torch::full({1500, 2000}, 0.02f);
  big.narrow(0, 0, 300).fill_(0.0);
  const WeightSparsity w =
      weight_sparsity({{"model.layers.0.mlp.up_proj.weight", big}}, 1, {1e-4, 1e-1});
  EXPECT_DOUBLE_EQ(w.per_block[0][0], 0.2);
  EXPECT_DOUBLE_EQ(w.per_block[0][1], 1.0);
  double sum = 0;
  for (double c : w.hist_counts) sum += c;
  EXPECT_EQ(sum, 3e6);
  EXPECT_EQ(w.hist_counts[0], 600000.0);
}

TEST(WeightSparsity, EmptyBlockIsNanAndBadInputThrows) {
  const WeightSparsity w =
      weight_sparsity({{"model.layers.1.self_attn.k_proj.weight", torch::full({4, 4}, 1e-5f)}}, 3);
  EXPECT_TRUE(std::isnan(w.per_block[0][0]));
  EXPECT_TRUE(std::isnan(w.per_block[2][1]));
  EXPECT_EQ(w.per_block[1][0], 1.0);
  EXPECT_EQ(w.overall[0], 1.0);

  const Named nothing = {{"model.embed_tokens.weight", torch::zeros({4, 4})}};
  const WeightSparsity none = weight_sparsity(nothing, 2);
  EXPECT_TRUE(std::isnan(none.overall[0]));
  for (double c : none.hist_counts) EXPECT_EQ(c, 0.0);

  const Named beyond = {{"model.layers.4.mlp.up_proj.weight", torch::zeros({2, 2})}};
  EXPECT_THROW(weight_sparsity(beyond, 4), Error);
  EXPECT_THROW(weight_sparsity(nothing, 2, {1e-3}, /*hist_bins=*/0), Error);
  EXPECT_THROW(weight_sparsity(nothing, 2, {1e-3}, 10, /*hist_lo=*/1, /*hist_hi=*/1), Error);
}

TEST(WeightSparsity, NanWeightsCountAsEntriesButNotInTheHistogram) {
  torch::Tensor m = torch::full({2, 5}, 1e-5f);
  m[0][0] = std::numeric_limits<float>::quiet_NaN();
  const WeightSparsity w = weight_sparsity({{"model.layers.0.mlp.up_proj.weight", m}}, 1);
  EXPECT_DOUBLE_EQ(w.per_block[0][0], 0.9);
  double sum = 0;
  for (double c : w.hist_counts) sum += c;
  EXPECT_EQ(sum, 9.0);
}

// The fused one-pass counting (the trainer's default) gives the same counts as
// the ATen operations, zeros, NaN, both clamps and every bin included.
TEST(WeightSparsity, FusedCountsEqualTheReference) {
  torch::manual_seed(23);
  Named params;
  for (int i = 0; i < 2; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    for (const char* m : {"self_attn.q_proj", "mlp.gate_proj"}) {
      const torch::Tensor mag = torch::pow(10.0, torch::rand({37 + i, 29}) * 11 - 9);
      const torch::Tensor sign = torch::randint(0, 2, {37 + i, 29}).to(torch::kFloat32) * 2 - 1;
      params.push_back({p + m + ".weight", mag * sign});
    }
  }
  params[0].second[0][0] = 0.0;
  params[1].second[3][4] = std::numeric_limits<float>::quiet_NaN();
  params[2].second[5][6] = std::numeric_limits<float>::infinity();
  const std::vector<double> eps = {1e-5, 3e-4, 2e-2};
  const WeightSparsity ref = weight_sparsity(params, 2, eps, 30, -7, 0.5, /*fused=*/false);
  const WeightSparsity fused = weight_sparsity(params, 2, eps, 30, -7, 0.5, /*fused=*/true);
  EXPECT_EQ(fused.hist_counts, ref.hist_counts);
  EXPECT_EQ(fused.per_block, ref.per_block);
  EXPECT_EQ(fused.overall, ref.overall);
}

TEST(WeightSparsity, Timing) {
  // Four d = 512 blocks with a 1408-wide SwiGLU: about 12.6M block weights.
  torch::manual_seed(22);
  Named params;
  for (int i = 0; i < 4; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    for (const char* m :
         {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"}) {
      params.push_back({p + m + ".weight", torch::randn({512, 512}) * 0.02});
    }
    for (const char* m : {"mlp.gate_proj", "mlp.up_proj"}) {
      params.push_back({p + m + ".weight", torch::randn({1408, 512}) * 0.02});
    }
    params.push_back({p + "mlp.down_proj.weight", torch::randn({512, 1408}) * 0.02});
  }
  const auto t0 = std::chrono::steady_clock::now();
  const WeightSparsity w = weight_sparsity(params, 4);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const auto t1 = std::chrono::steady_clock::now();
  const WeightSparsity f =
      weight_sparsity(params, 4, {1e-4, 1e-3, 1e-2}, 40, -8, 1, /*fused=*/true);
  const double fused_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
  std::printf("[timing] weight_sparsity fused: %.1f ms\n", fused_ms);
  EXPECT_EQ(f.hist_counts, w.hist_counts);
  double n = 0;
  for (double c : w.hist_counts) n += c;
  std::printf("[timing] weight_sparsity on %.1fM block weights: %.1f ms\n", n / 1e6, ms);
  EXPECT_EQ(n, 4.0 * (4 * 512 * 512 + 3 * 1408 * 512));
  // N(0, 0.02^2): P(|w| < 1e-2) = erf(0.5 / sqrt(2)) = 0.3829.
  EXPECT_NEAR(w.overall[2], 0.3829, 0.002);
}

}  // namespace
}  // namespace dlab
