// Probe points: what is recorded, when, and how the points relate.
#include <gtest/gtest.h>

#include "model/transformer.h"
#include "model_test_util.h"

namespace dlab {
namespace {

using test::max_abs_diff;

constexpr uint32_t kAll = kProbeResidPre | kProbeAttnOut | kProbeMlpOut | kProbeResidPost |
                          kProbeAttnProbs | kProbeRouterLogits | kProbeFinalNorm;

TEST(Probes, ResidualStreamDecomposes) {
  torch::NoGradGuard no_grad;
  for (const ModelConfig& cfg : {test::tiny_config(2), test::tiny_config(2, 4, 1, 2)}) {
    Transformer m = test::make_model(cfg, 1);
    test::randomize(m, 0.2, 2);
    const torch::Tensor tokens = test::random_tokens(2, 6, cfg.vocab_size, 3);
    const ForwardOutput out = m->forward(tokens, LayerPlan(), ProbeRequest{kAll});
    const size_t L = size_t(cfg.n_layers);
    ASSERT_EQ(out.hidden.size(), L + 1);
    ASSERT_EQ(out.attn_out.size(), L);
    ASSERT_EQ(out.mlp_out.size(), L);
    ASSERT_EQ(out.attn_probs.size(), L);
    EXPECT_LT(max_abs_diff(out.hidden[0], m->model->embed_tokens(tokens)), 1e-15);
    for (size_t i = 0; i < L; ++i) {
      EXPECT_EQ(out.hidden[i].sizes(), (std::vector<int64_t>{2, 6, cfg.d_model}));
      EXPECT_LT(max_abs_diff(out.hidden[i + 1] - out.hidden[i], out.attn_out[i] + out.mlp_out[i]),
                1e-13);
      EXPECT_GT(out.attn_out[i].abs().max().item<double>(), 1e-3);
      EXPECT_GT(out.mlp_out[i].abs().max().item<double>(), 1e-3);
    }
    EXPECT_LT(max_abs_diff(out.final_norm, m->model->norm(out.hidden[L])), 1e-15);
    EXPECT_LT(max_abs_diff(out.logits, m->lm_head(out.final_norm)), 1e-15);
    if (cfg.is_moe()) {
      ASSERT_EQ(out.router_logits.size(), L);
      EXPECT_EQ(out.router_logits[0].sizes(), (std::vector<int64_t>{12, 4}));
    } else {
      EXPECT_TRUE(out.router_logits.empty() || !out.router_logits[0].defined());
    }
  }
}

TEST(Probes, AttentionProbabilitiesAreCausalDistributions) {
  torch::NoGradGuard no_grad;
  const ModelConfig cfg = test::tiny_config(1);
  Transformer m = test::make_model(cfg, 4);
  test::randomize(m, 0.5, 5);
  const ForwardOutput out = m->forward(test::random_tokens(3, 7, cfg.vocab_size, 6), LayerPlan(),
                                       ProbeRequest{kProbeAttnProbs});
  for (const torch::Tensor& p : out.attn_probs) {
    EXPECT_EQ(p.sizes(), (std::vector<int64_t>{3, cfg.n_heads, 7, 7}));
    EXPECT_LT(max_abs_diff(p.sum(-1), torch::ones({3, cfg.n_heads, 7}, p.options())), 1e-14);
    EXPECT_EQ(p.triu(/*diagonal=*/1).abs().max().item<double>(), 0.0);  // no weight on the future
    EXPECT_GE(p.min().item<double>(), 0.0);
    // The first query can only attend to itself.
    EXPECT_LT(max_abs_diff(p.select(2, 0).select(2, 0), torch::ones({3, cfg.n_heads}, p.options())),
              1e-15);
  }
}

TEST(Probes, NothingRecordedWithoutAMask) {
  for (const ModelConfig& cfg : {test::tiny_config(2), test::tiny_config(2, 4, 0, 2)}) {
    Transformer m = test::make_model(cfg, 7, torch::kFloat32);
    const ForwardOutput out = m->forward(test::random_tokens(2, 5, cfg.vocab_size, 8));
    EXPECT_TRUE(out.hidden.empty());
    EXPECT_TRUE(out.attn_out.empty());
    EXPECT_TRUE(out.mlp_out.empty());
    EXPECT_TRUE(out.attn_probs.empty());
    EXPECT_TRUE(out.router_logits.empty());
    EXPECT_FALSE(out.final_norm.defined());
    EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2, 5, cfg.vocab_size}));
    ASSERT_TRUE(out.aux_loss.defined());
    EXPECT_EQ(out.aux_loss.dim(), 0);
    if (cfg.is_moe()) {
      // MoE statistics come with the auxiliary loss, probes or not.
      ASSERT_EQ(out.moe.size(), size_t(cfg.n_layers));
      EXPECT_EQ(out.moe[0].expert_fraction.sizes(), (std::vector<int64_t>{4}));
      EXPECT_GT(out.aux_loss.item<double>(), 0.0);
      EXPECT_TRUE(out.aux_loss.requires_grad());
    } else {
      EXPECT_TRUE(out.moe.empty());
      EXPECT_EQ(out.aux_loss.item<double>(), 0.0);
    }
  }
}

TEST(Probes, EachBitFillsOnlyItsPoint) {
  const ModelConfig cfg = test::tiny_config(2, 4, 0, 2);
  Transformer m = test::make_model(cfg, 9, torch::kFloat32);
  const torch::Tensor tokens = test::random_tokens(1, 4, cfg.vocab_size, 10);
  const ForwardOutput pre = m->forward(tokens, LayerPlan(), ProbeRequest{kProbeResidPre});
  EXPECT_EQ(pre.hidden.size(), size_t(cfg.n_layers) + 1);  // ResidPre alone gives h_0..h_L
  EXPECT_TRUE(pre.attn_out.empty() && pre.mlp_out.empty() && pre.attn_probs.empty());
  const ForwardOutput router = m->forward(tokens, LayerPlan(), ProbeRequest{kProbeRouterLogits});
  EXPECT_TRUE(router.hidden.empty());
  ASSERT_EQ(router.router_logits.size(), size_t(cfg.n_layers));
  EXPECT_EQ(router.router_logits[1].scalar_type(), torch::kFloat32);
  const ForwardOutput fin = m->forward(tokens, LayerPlan(), ProbeRequest{kProbeFinalNorm});
  EXPECT_TRUE(fin.final_norm.defined());
  EXPECT_TRUE(fin.hidden.empty() && fin.router_logits.empty());
}

TEST(Probes, DetachControlsTheGraph) {
  const ModelConfig cfg = test::tiny_config(2);
  Transformer m = test::make_model(cfg, 11);
  const torch::Tensor tokens = test::random_tokens(1, 4, cfg.vocab_size, 12);
  const ForwardOutput detached = m->forward(tokens, LayerPlan(), ProbeRequest{kAll, true});
  for (const torch::Tensor& h : detached.hidden) EXPECT_FALSE(h.requires_grad());
  EXPECT_FALSE(detached.attn_probs[0].requires_grad());
  EXPECT_TRUE(detached.logits.requires_grad());

  // Kept in the graph, a probe can be differentiated: d(sum h_2)/d(h_1) through block 1.
  const ForwardOutput live = m->forward(tokens, LayerPlan(), ProbeRequest{kAll, false});
  ASSERT_TRUE(live.hidden[2].requires_grad());
  const torch::Tensor g = torch::autograd::grad({live.hidden[2].sum()}, {live.hidden[1]})[0];
  EXPECT_EQ(g.sizes(), live.hidden[1].sizes());
  EXPECT_GT(g.abs().sum().item<double>(), 0.0);
}

TEST(Probes, InterventionPositions) {
  torch::NoGradGuard no_grad;
  const ModelConfig cfg = test::tiny_config(2, 4, 0, 2);
  Transformer m = test::make_model(cfg, 13);
  const ForwardOutput out = m->forward(test::random_tokens(2, 5, cfg.vocab_size, 14),
                                       LayerPlan().skip(0), ProbeRequest{kAll});
  EXPECT_TRUE(torch::equal(out.hidden[1], out.hidden[0]));  // skip: h_1 = h_0
  EXPECT_FALSE(out.attn_out[0].defined());
  EXPECT_FALSE(out.mlp_out[0].defined());
  EXPECT_FALSE(out.attn_probs[0].defined());
  EXPECT_FALSE(out.router_logits[0].defined());
  EXPECT_FALSE(out.moe[0].lb_loss.defined());
  EXPECT_TRUE(out.moe[1].lb_loss.defined());
  // The auxiliary loss averages over the MoE blocks that ran (one here).
  EXPECT_NEAR(out.aux_loss.item<double>(),
              0.01 * out.moe[1].lb_loss.item<double>() + 0.001 * out.moe[1].z_loss.item<double>(),
              1e-15);
}

}  // namespace
}  // namespace dlab
