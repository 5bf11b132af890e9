// The model against an independent reference (reference_model.h) and against
// itself under interventions: plans must equal the models they describe.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "model/rope.h"
#include "model/transformer.h"
#include "model_test_util.h"
#include "reference_model.h"

namespace dlab {
namespace {

constexpr double kTight = 1e-12;  // float64 reassociation noise

using test::max_abs_diff;

struct Fixture {
  Transformer model{nullptr};
  torch::Tensor tokens;
};

Fixture make(const ModelConfig& cfg, uint64_t seed, int64_t B = 2, int64_t T = 6) {
  Fixture f{test::make_model(cfg, seed), test::random_tokens(B, T, cfg.vocab_size, seed + 7)};
  test::randomize(f.model, 0.2, seed + 3);
  return f;
}

void expect_matches_reference(const ModelConfig& cfg, uint64_t seed) {
  torch::NoGradGuard no_grad;
  Fixture f = make(cfg, seed);
  ProbeRequest probes;
  probes.mask = kProbeResidPost;
  const ForwardOutput out = f.model->forward(f.tokens, LayerPlan{}, probes);
  const ref::Output expected = ref::forward(f.tokens, ref::weights_of(f.model), cfg);
  EXPECT_LT(max_abs_diff(out.logits, expected.logits), kTight);
  ASSERT_EQ(out.hidden.size(), expected.hidden.size());
  for (size_t i = 0; i < out.hidden.size(); ++i) {
    EXPECT_LT(max_abs_diff(out.hidden[i], expected.hidden[i]), kTight) << "h_" << i;
  }
  EXPECT_NEAR(out.aux_loss.item<double>(), expected.aux, kTight);
  if (cfg.is_moe()) EXPECT_GT(expected.aux, 0.0);
}

TEST(Reference, MultiHeadAttention) { expect_matches_reference(test::tiny_config(4), 1); }
TEST(Reference, GroupedQueryAttention) { expect_matches_reference(test::tiny_config(2), 2); }
TEST(Reference, MultiQueryAttention) { expect_matches_reference(test::tiny_config(1), 3); }

TEST(Reference, LayerNormScalingAndTheta) {
  ModelConfig cfg = test::tiny_config(2);
  cfg.n_layers = 3;
  cfg.norm_scaling = "layernorm_scaling";
  cfg.rope_theta = 500.0;
  cfg.norm_eps = 1e-5;
  expect_matches_reference(cfg, 4);
}

TEST(Reference, MoE) { expect_matches_reference(test::tiny_config(2, 4, 0, 2), 5); }
TEST(Reference, MoEWithSharedExpert) { expect_matches_reference(test::tiny_config(4, 4, 1, 1), 6); }
TEST(Reference, MoEAllExpertsActive) { expect_matches_reference(test::tiny_config(4, 3, 1, 3), 7); }

TEST(Reference, MoEAuxWeights) {
  ModelConfig cfg = test::tiny_config(4, 4, 0, 2);
  cfg.moe.lb_loss_weight = 0.3;
  cfg.moe.z_loss_weight = 0.02;
  expect_matches_reference(cfg, 8);
}

// G < H must equal MHA whose KV heads are copies: KV head g serves query heads
// g*H/G .. (g+1)*H/G - 1 (consecutive heads share).
TEST(Equivalence, GroupedQueryEqualsMhaWithRepeatedKv) {
  torch::NoGradGuard no_grad;
  const ModelConfig gqa_cfg = test::tiny_config(/*n_kv_heads=*/2);
  Fixture gqa = make(gqa_cfg, 10);
  Transformer mha = test::make_model(test::tiny_config(/*n_kv_heads=*/4), 11);
  const int64_t dh = gqa_cfg.head_dim();
  auto weights = gqa.model->state_dict_hf();
  for (auto& [name, t] : weights) {
    if (name.find("k_proj") != std::string::npos || name.find("v_proj") != std::string::npos) {
      // (G*d_h, d) -> (H*d_h, d): every KV head's rows twice, in place.
      t = t.view({2, dh, -1}).repeat_interleave(2, /*dim=*/0).reshape({4 * dh, -1});
    }
  }
  mha->load_state_dict_hf(weights);
  EXPECT_LT(max_abs_diff(mha->forward(gqa.tokens).logits, gqa.model->forward(gqa.tokens).logits),
            kTight);
}

TEST(Rope, HandComputedCase) {
  // rotate_half([1, 2, 3, 4]) = [-3, -4, 1, 2]
  const torch::Tensor v = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(rotate_half(v), torch::tensor({-3.0, -4.0, 1.0, 2.0}, torch::kFloat64)));

  // d_h = 4, theta = 100: freq_0 = 1, freq_1 = 100^(-1/2) = 0.1. At position t = 2,
  // pair (0, 2) turns by 2 rad and pair (1, 3) by 0.2 rad.
  const RopeTables tables = rope_tables(/*seq_len=*/3, /*head_dim=*/4, /*theta=*/100.0,
                                        torch::TensorOptions().dtype(torch::kFloat64));
  const torch::Tensor x = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64).view({1, 1, 1, 4});
  const torch::Tensor rotated =
      rope_apply(x.expand({1, 1, 3, 4}).contiguous(), tables).view({3, 4});
  const double c0 = std::cos(2.0), s0 = std::sin(2.0), c1 = std::cos(0.2), s1 = std::sin(0.2);
  const torch::Tensor expected = torch::tensor(
      {1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1}, torch::kFloat64);
  EXPECT_LT(max_abs_diff(rotated[2], expected), 1e-15);
  EXPECT_TRUE(torch::equal(rotated[0], x.view({4})));  // position 0 is not rotated
  // Rotation preserves the norm of every pair.
  EXPECT_NEAR(rotated[1].norm().item<double>(), x.norm().item<double>(), 1e-14);
}

// A skip plan equals a model built without that block.
TEST(Plan, SkipEqualsModelWithoutTheBlock) {
  torch::NoGradGuard no_grad;
  ModelConfig cfg = test::tiny_config(2);
  cfg.n_layers = 3;
  Fixture f = make(cfg, 20);
  ModelConfig small_cfg = cfg;
  small_cfg.n_layers = 2;
  Transformer small = test::make_model(small_cfg, 21);
  std::vector<std::pair<std::string, torch::Tensor>> weights;
  for (auto& [name, t] : f.model->state_dict_hf()) {
    if (name.rfind("model.layers.1.", 0) == 0) continue;
    std::string renamed = name;
    if (name.rfind("model.layers.2.", 0) == 0) renamed = "model.layers.1." + name.substr(15);
    weights.emplace_back(renamed, t);
  }
  small->load_state_dict_hf(weights);
  const torch::Tensor skipped = f.model->forward(f.tokens, LayerPlan().skip(1)).logits;
  EXPECT_LT(max_abs_diff(skipped, small->forward(f.tokens).logits), kTight);
  EXPECT_GT(max_abs_diff(skipped, f.model->forward(f.tokens).logits), 1e-3);
}

// A swap plan equals the model whose block weights were swapped; under
// LayerNorm scaling the factor s_i stays with the position.
void expect_swap_equals_swapped_weights(const std::string& norm_scaling) {
  torch::NoGradGuard no_grad;
  ModelConfig cfg = test::tiny_config(2);
  cfg.n_layers = 4;
  cfg.norm_scaling = norm_scaling;
  Fixture f = make(cfg, 30);
  auto weights = f.model->state_dict_hf();
  for (auto& [name, t] : weights) {
    if (name.rfind("model.layers.", 0) != 0) continue;
    const std::string rest = name.substr(name.find('.', 13));
    if (name.rfind("model.layers.1.", 0) == 0)
      t = f.model->named_parameters()["model.layers.3" + rest];
    if (name.rfind("model.layers.3.", 0) == 0)
      t = f.model->named_parameters()["model.layers.1" + rest];
  }
  Transformer swapped = test::make_model(cfg, 31);
  swapped->load_state_dict_hf(weights);
  const torch::Tensor planned = f.model->forward(f.tokens, LayerPlan().swap(1, 3)).logits;
  EXPECT_LT(max_abs_diff(planned, swapped->forward(f.tokens).logits), kTight) << norm_scaling;
  EXPECT_GT(max_abs_diff(planned, f.model->forward(f.tokens).logits), 1e-3) << norm_scaling;
}

TEST(Plan, SwapEqualsSwappedWeights) { expect_swap_equals_swapped_weights("none"); }
TEST(Plan, SwapKeepsLayerNormScalingWithPosition) {
  expect_swap_equals_swapped_weights("layernorm_scaling");
}

// Position p running block b = reference block b with factor s_p; with
// s_i = 1/sqrt(i+1) checked at every position, and shown to matter.
TEST(Plan, LayerNormScalingFactorBelongsToThePosition) {
  torch::NoGradGuard no_grad;
  ModelConfig cfg = test::tiny_config(2);
  cfg.n_layers = 3;
  cfg.norm_scaling = "layernorm_scaling";
  Fixture f = make(cfg, 40);
  const ref::Weights w = ref::weights_of(f.model);
  torch::manual_seed(41);
  const torch::Tensor h = torch::randn({2, 5, cfg.d_model}, torch::kFloat64);
  for (int position = 0; position < 3; ++position) {
    EXPECT_DOUBLE_EQ(f.model->position_scale(position), 1.0 / std::sqrt(position + 1.0));
    for (int block = 0; block < 3; ++block) {
      const torch::Tensor got = f.model->block_forward(position, block, h);
      const double s = 1.0 / std::sqrt(position + 1.0);
      EXPECT_LT(max_abs_diff(got, ref::block(h, w, block, s, cfg)), kTight)
          << "position " << position << " block " << block;
      if (position > 0) EXPECT_GT(max_abs_diff(got, ref::block(h, w, block, 1.0, cfg)), 1e-4);
    }
  }
  // The full forward applies the same factors: h_{i+1} = block_i(h_i; s_i).
  ProbeRequest probes;
  probes.mask = kProbeResidPost;
  const ForwardOutput out = f.model->forward(f.tokens, LayerPlan(), probes);
  for (int i = 0; i < 3; ++i) {
    EXPECT_LT(max_abs_diff(out.hidden[size_t(i) + 1],
                           ref::block(out.hidden[size_t(i)], w, i, 1.0 / std::sqrt(i + 1.0), cfg)),
              kTight);
  }
  // Without the option every factor is 1.
  cfg.norm_scaling = "none";
  Transformer plain = test::make_model(cfg, 42);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(plain->position_scale(i), 1.0);
}

// use_block(p, b) without the reverse assignment: p runs b's weights.
TEST(Plan, UseBlockEqualsCopiedWeights) {
  torch::NoGradGuard no_grad;
  ModelConfig cfg = test::tiny_config(4, 4, 1, 2);
  cfg.n_layers = 3;
  cfg.norm_scaling = "layernorm_scaling";
  Fixture f = make(cfg, 50);
  auto weights = f.model->state_dict_hf();
  auto params = f.model->named_parameters();
  for (auto& [name, t] : weights) {
    if (name.rfind("model.layers.2.", 0) == 0) t = params["model.layers.0." + name.substr(15)];
  }
  Transformer copied = test::make_model(cfg, 51);
  copied->load_state_dict_hf(weights);
  const ForwardOutput planned = f.model->forward(f.tokens, LayerPlan().use_block(2, 0));
  const ForwardOutput expected = copied->forward(f.tokens);
  EXPECT_LT(max_abs_diff(planned.logits, expected.logits), kTight);
  EXPECT_NEAR(planned.aux_loss.item<double>(), expected.aux_loss.item<double>(), kTight);
}

// Linear: h_{i+1} = h_i W + b, or h_i Wᵀ + b.
TEST(Plan, LinearReplacement) {
  torch::NoGradGuard no_grad;
  ModelConfig cfg = test::tiny_config(2);
  cfg.n_layers = 3;
  Fixture f = make(cfg, 60);
  torch::manual_seed(61);
  LinearMap map;
  map.weight = torch::randn({cfg.d_model, cfg.d_model}, torch::kFloat64) * 0.3;
  map.bias = torch::randn({cfg.d_model}, torch::kFloat64);
  ProbeRequest probes;
  probes.mask = kProbeResidPost | kProbeAttnOut;
  for (bool transposed : {false, true}) {
    map.transposed = transposed;
    const ForwardOutput out = f.model->forward(f.tokens, LayerPlan().linear(1, map), probes);
    const torch::Tensor w = transposed ? map.weight.t() : map.weight;
    EXPECT_LT(max_abs_diff(out.hidden[2], torch::matmul(out.hidden[1], w) + map.bias), kTight);
    EXPECT_FALSE(out.attn_out[1].defined());  // no attention ran at position 1
    EXPECT_TRUE(out.attn_out[2].defined());
  }
  LinearMap no_bias{map.weight, {}, false};
  const ForwardOutput out = f.model->forward(f.tokens, LayerPlan().linear(0, no_bias), probes);
  EXPECT_LT(max_abs_diff(out.hidden[1], torch::matmul(out.hidden[0], map.weight)), kTight);

  LinearMap wrong{torch::zeros({3, 3}, torch::kFloat64), {}, false};
  try {
    f.model->forward(f.tokens, LayerPlan().linear(2, wrong));
    FAIL() << "a 3x3 map on a 16-wide model must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("position 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[16, 16]"), std::string::npos) << e.what();
  }
}

// forward_from(h_s, s) reproduces forward for the same plan, for every s.
TEST(Plan, ForwardFromEqualsForward) {
  torch::NoGradGuard no_grad;
  ModelConfig cfg = test::tiny_config(2, 4, 0, 2);
  cfg.n_layers = 4;
  Fixture f = make(cfg, 70);
  torch::manual_seed(71);
  LinearMap map{torch::randn({cfg.d_model, cfg.d_model}, torch::kFloat64) * 0.2, {}, false};
  const LayerPlan plan = LayerPlan().swap(0, 2).linear(3, map);
  ProbeRequest probes;
  probes.mask = kProbeResidPost | kProbeMlpOut;
  const ForwardOutput full = f.model->forward(f.tokens, plan, probes);
  for (int s = 0; s <= cfg.n_layers; ++s) {
    const ForwardOutput part = f.model->forward_from(full.hidden[size_t(s)], s, plan, probes);
    EXPECT_LT(max_abs_diff(part.logits, full.logits), kTight) << "start " << s;
    for (int i = 0; i <= cfg.n_layers; ++i) {
      if (i < s) {
        EXPECT_FALSE(part.hidden[size_t(i)].defined()) << "h_" << i << " start " << s;
      } else {
        EXPECT_LT(max_abs_diff(part.hidden[size_t(i)], full.hidden[size_t(i)]), kTight);
      }
    }
  }
  // Intact plan from a cached intact h_s: the plan's first change is the earliest start.
  const LayerPlan skip2 = LayerPlan().skip(2);
  ASSERT_EQ(skip2.first_change(), 2);
  const ForwardOutput intact = f.model->forward(f.tokens, LayerPlan(), probes);
  EXPECT_LT(max_abs_diff(f.model->forward_from(intact.hidden[2], 2, skip2).logits,
                         f.model->forward(f.tokens, skip2).logits),
            kTight);
  EXPECT_THROW(f.model->forward_from(intact.hidden[0], 5, skip2), Error);
}

// MoE with one expert and k = 1 routes every token to it with p = 1: it is the
// dense model with the expert's weights; LB = 1 and Z = mean r².
TEST(Equivalence, SingleExpertMoeEqualsDense) {
  torch::NoGradGuard no_grad;
  ModelConfig moe_cfg = test::tiny_config(2, /*n_experts=*/1, /*n_shared=*/0, /*top_k=*/1);
  moe_cfg.moe.d_expert = moe_cfg.d_ff;
  Fixture f = make(moe_cfg, 80);
  Transformer dense = test::make_model(test::tiny_config(2), 81);
  std::vector<std::pair<std::string, torch::Tensor>> weights;
  for (auto& [name, t] : f.model->state_dict_hf()) {
    if (name.find("mlp.gate.weight") != std::string::npos) continue;
    std::string renamed = name;
    const size_t at = name.find("mlp.experts.0.");
    if (at != std::string::npos) renamed = name.substr(0, at) + "mlp." + name.substr(at + 14);
    weights.emplace_back(renamed, t);
  }
  dense->load_state_dict_hf(weights);
  ProbeRequest probes;
  probes.mask = kProbeRouterLogits;
  const ForwardOutput out = f.model->forward(f.tokens, LayerPlan(), probes);
  EXPECT_LT(max_abs_diff(out.logits, dense->forward(f.tokens).logits), kTight);
  double z_mean = 0;
  for (int i = 0; i < moe_cfg.n_layers; ++i) {
    const torch::Tensor r = out.router_logits[size_t(i)];  // (N, 1)
    EXPECT_NEAR(out.moe[size_t(i)].lb_loss.item<double>(), 1.0, kTight);
    EXPECT_NEAR(out.moe[size_t(i)].z_loss.item<double>(), r.pow(2).mean().item<double>(), kTight);
    EXPECT_NEAR(out.moe[size_t(i)].expert_fraction.item<double>(), 1.0, kTight);
    z_mean += r.pow(2).mean().item<double>() / moe_cfg.n_layers;
  }
  EXPECT_NEAR(out.aux_loss.item<double>(), 0.01 * 1.0 + 0.001 * z_mean, kTight);
}

// The MoE layer's formula and statistics by hand, on the module directly.
TEST(Equivalence, MoeLayerByHand) {
  torch::NoGradGuard no_grad;
  for (int top_k : {1, 2, 4}) {
    for (int shared : {0, 1}) {
      ModelConfig cfg = test::tiny_config(4, /*n_experts=*/4, shared, top_k);
      torch::manual_seed(90 + top_k);
      Moe moe(cfg);
      moe->to(torch::kFloat64);
      for (auto& p : moe->parameters()) p.normal_(0.0, 0.3);
      const torch::Tensor x = torch::randn({3, 4, cfg.d_model}, torch::kFloat64);
      const MoeOutput out = moe->forward(x);
      const ref::Weights w = [&] {
        ref::Weights named;
        for (auto& item : moe->named_parameters()) named[item.key()] = item.value();
        return named;
      }();
      ref::MoeAux aux;
      const torch::Tensor expected = ref::moe(x.reshape({12, cfg.d_model}), w, "", cfg, &aux);
      const std::string what = "k=" + std::to_string(top_k) + " shared=" + std::to_string(shared);
      EXPECT_LT(max_abs_diff(out.y.reshape({12, cfg.d_model}), expected), kTight) << what;
      EXPECT_NEAR(out.stats.lb_loss.item<double>(), aux.lb, kTight) << what;
      EXPECT_NEAR(out.stats.z_loss.item<double>(), aux.z, kTight) << what;
      EXPECT_NEAR(out.stats.expert_fraction.sum().item<double>(), 1.0, kTight) << what;
      EXPECT_EQ(out.router_logits.sizes(), (std::vector<int64_t>{12, 4}));
      if (top_k == 4) EXPECT_NEAR(aux.lb, 1.0, kTight);  // f_e = 1/E, Σ P_e = 1
    }
  }
}

// Causality: changing token t leaves the logits at positions < t unchanged.
void expect_causal(const ModelConfig& cfg, uint64_t seed) {
  torch::NoGradGuard no_grad;
  Fixture f = make(cfg, seed, /*B=*/2, /*T=*/7);
  const torch::Tensor base = f.model->forward(f.tokens).logits;
  for (int64_t t = 0; t < 7; ++t) {
    torch::Tensor changed = f.tokens.clone();
    changed.index_put_({torch::indexing::Slice(), t}, (f.tokens.select(1, t) + 5) % cfg.vocab_size);
    const torch::Tensor logits = f.model->forward(changed).logits;
    if (t > 0) {
      EXPECT_LT(max_abs_diff(logits.narrow(1, 0, t), base.narrow(1, 0, t)), kTight) << "t=" << t;
    }
    EXPECT_GT(max_abs_diff(logits.narrow(1, t, 7 - t), base.narrow(1, t, 7 - t)), 1e-6);
  }
}

TEST(Causality, Dense) { expect_causal(test::tiny_config(2), 100); }
TEST(Causality, MoE) { expect_causal(test::tiny_config(1, 4, 1, 2), 101); }

}  // namespace
}  // namespace dlab
