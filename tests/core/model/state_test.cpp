// Tensor names and shapes (METRICS.md §1), loading, initialisation, parameter
// counts, configuration checks and the LM loss.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "model/transformer.h"
#include "model_test_util.h"

namespace dlab {
namespace {

using Shapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

Shapes shapes_of(Transformer& m) {
  Shapes out;
  for (auto& [name, t] : m->state_dict_hf()) out.emplace_back(name, t.sizes().vec());
  return out;
}

ModelConfig named_config() {
  ModelConfig c;
  c.n_layers = 2;
  c.d_model = 8;
  c.n_heads = 4;     // d_h = 2
  c.n_kv_heads = 2;  // G*d_h = 4
  c.d_ff = 6;
  c.vocab_size = 11;
  return c;
}

std::string layer(int i, const std::string& rest) {
  return "model.layers." + std::to_string(i) + "." + rest;
}

TEST(Names, DenseMatchesHuggingFaceLlama) {
  Transformer m(named_config());
  Shapes expected = {{"model.embed_tokens.weight", {11, 8}}};
  for (int i = 0; i < 2; ++i) {
    expected.push_back({layer(i, "input_layernorm.weight"), {8}});
    expected.push_back({layer(i, "self_attn.q_proj.weight"), {8, 8}});
    expected.push_back({layer(i, "self_attn.k_proj.weight"), {4, 8}});
    expected.push_back({layer(i, "self_attn.v_proj.weight"), {4, 8}});
    expected.push_back({layer(i, "self_attn.o_proj.weight"), {8, 8}});
    expected.push_back({layer(i, "post_attention_layernorm.weight"), {8}});
    expected.push_back({layer(i, "mlp.gate_proj.weight"), {6, 8}});
    expected.push_back({layer(i, "mlp.up_proj.weight"), {6, 8}});
    expected.push_back({layer(i, "mlp.down_proj.weight"), {8, 6}});
  }
  expected.push_back({"model.norm.weight", {8}});
  expected.push_back({"lm_head.weight", {11, 8}});
  EXPECT_EQ(shapes_of(m), expected);
}

TEST(Names, MoeWithSharedExpertMatchesQwen2MoeLayout) {
  ModelConfig cfg = named_config();
  cfg.moe.n_experts = 3;
  cfg.moe.top_k = 2;
  cfg.moe.d_expert = 5;
  cfg.moe.n_shared_experts = 1;
  Transformer m(cfg);
  Shapes expected = {{"model.embed_tokens.weight", {11, 8}}};
  auto ffn = [&](const std::string& prefix) {
    expected.push_back({prefix + "gate_proj.weight", {5, 8}});
    expected.push_back({prefix + "up_proj.weight", {5, 8}});
    expected.push_back({prefix + "down_proj.weight", {8, 5}});
  };
  for (int i = 0; i < 2; ++i) {
    expected.push_back({layer(i, "input_layernorm.weight"), {8}});
    expected.push_back({layer(i, "self_attn.q_proj.weight"), {8, 8}});
    expected.push_back({layer(i, "self_attn.k_proj.weight"), {4, 8}});
    expected.push_back({layer(i, "self_attn.v_proj.weight"), {4, 8}});
    expected.push_back({layer(i, "self_attn.o_proj.weight"), {8, 8}});
    expected.push_back({layer(i, "post_attention_layernorm.weight"), {8}});
    expected.push_back({layer(i, "mlp.gate.weight"), {3, 8}});
    for (int e = 0; e < 3; ++e) ffn(layer(i, "mlp.experts." + std::to_string(e) + "."));
    ffn(layer(i, "mlp.shared_expert."));
  }
  expected.push_back({"model.norm.weight", {8}});
  expected.push_back({"lm_head.weight", {11, 8}});
  EXPECT_EQ(shapes_of(m), expected);
  // d_expert = 0 falls back to d_ff.
  cfg.moe.d_expert = 0;
  Transformer fallback(cfg);
  EXPECT_EQ(fallback->named_parameters()["model.layers.0.mlp.experts.0.up_proj.weight"].sizes(),
            (std::vector<int64_t>{6, 8}));
}

TEST(StateDict, RoundTrip) {
  const ModelConfig cfg = test::tiny_config(2, 4, 1, 2);
  Transformer a = test::make_model(cfg, 1, torch::kFloat32);
  Transformer b = test::make_model(cfg, 2, torch::kFloat32);
  const torch::Tensor tokens = test::random_tokens(2, 5, cfg.vocab_size, 3);
  ASSERT_FALSE(torch::equal(a->forward(tokens).logits, b->forward(tokens).logits));
  // Different dtype on the way in is converted on copy.
  std::vector<std::pair<std::string, torch::Tensor>> weights;
  for (auto& [name, t] : a->state_dict_hf())
    weights.emplace_back(name, t.detach().to(torch::kFloat64));
  b->load_state_dict_hf(weights);
  auto sa = a->state_dict_hf(), sb = b->state_dict_hf();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].first, sb[i].first);
    EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
    EXPECT_EQ(sb[i].second.scalar_type(), torch::kFloat32);
  }
  EXPECT_TRUE(torch::equal(a->forward(tokens).logits, b->forward(tokens).logits));
  // The returned tensors alias the parameters.
  EXPECT_EQ(sa[0].second.data_ptr(), a->model->embed_tokens->weight.data_ptr());
}

std::string load_error(Transformer& m,
                       const std::vector<std::pair<std::string, torch::Tensor>>& w) {
  try {
    m->load_state_dict_hf(w);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(StateDict, LoadReportsEveryProblemAndChangesNothing) {
  const ModelConfig cfg = test::tiny_config(2);
  Transformer m = test::make_model(cfg, 4, torch::kFloat32);
  const torch::Tensor before = m->lm_head->weight.clone();
  auto good = m->state_dict_hf();
  for (auto& [name, t] : good) t = torch::zeros_like(t);  // would change every weight

  auto w = good;
  w.erase(w.begin() + 1);  // model.layers.0.input_layernorm.weight
  w.push_back({"model.layers.0.mlp.bias", torch::zeros({16})});
  for (auto& [name, t] : w) {
    if (name == "model.layers.1.self_attn.k_proj.weight") t = torch::zeros({16, 16});
  }
  const std::string msg = load_error(m, w);
  EXPECT_NE(msg.find("missing (1): model.layers.0.input_layernorm.weight"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("unexpected (1): model.layers.0.mlp.bias"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shape mismatch (1): model.layers.1.self_attn.k_proj.weight [16, 16] "
                     "(model has [8, 16])"),
            std::string::npos)
      << msg;
  EXPECT_TRUE(torch::equal(m->lm_head->weight, before));  // nothing copied

  auto dup = good;
  dup.push_back(good[0]);
  EXPECT_NE(load_error(m, dup).find("duplicate (1): model.embed_tokens.weight"), std::string::npos);
  EXPECT_TRUE(torch::equal(m->lm_head->weight, before));

  EXPECT_EQ(load_error(m, good), "");
  EXPECT_EQ(m->lm_head->weight.abs().max().item<float>(), 0.0f);
}

// Estimates of the std of n ~ N(0, σ²) samples are within ~σ·3/sqrt(2n).
void expect_std(const torch::Tensor& w, double sigma, const std::string& name) {
  const double tol = sigma * 4.0 / std::sqrt(2.0 * double(w.numel()));
  EXPECT_NEAR(w.std().item<double>(), sigma, tol) << name;
  EXPECT_NEAR(w.mean().item<double>(), 0.0, 4.0 * sigma / std::sqrt(double(w.numel()))) << name;
}

ModelConfig wide_config(const std::string& init) {
  ModelConfig c;
  c.n_layers = 4;
  c.d_model = 128;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.d_ff = 256;
  c.vocab_size = 300;
  c.init = init;
  c.moe.n_experts = 2;
  c.moe.top_k = 1;
  c.moe.n_shared_experts = 1;
  return c;
}

TEST(Init, NormalAndScaled) {
  for (const std::string init : {"normal", "scaled"}) {
    torch::manual_seed(5);
    Transformer m(wide_config(init));
    const double out_sigma = init == "scaled" ? 0.02 / std::sqrt(2.0 * 4) : 0.02;
    int n_out = 0;
    for (auto& [name, w] : m->state_dict_hf()) {
      if (w.dim() == 1) {
        EXPECT_TRUE(torch::equal(w, torch::ones_like(w))) << name;  // norm gains
      } else if (name.find("o_proj") != std::string::npos ||
                 name.find("down_proj") != std::string::npos) {
        expect_std(w, out_sigma, name);
        ++n_out;
      } else {
        expect_std(w, 0.02, name);
      }
    }
    EXPECT_EQ(n_out, 4 * (1 + 3));  // o_proj and the down_proj of 2 experts + shared, per block
  }
}

TEST(Init, SeedDeterminesWeights) {
  const ModelConfig cfg = test::tiny_config(2, 4, 1, 2);
  torch::manual_seed(9);
  Transformer a(cfg);
  torch::manual_seed(9);
  Transformer b(cfg);
  torch::manual_seed(10);
  Transformer c(cfg);
  auto sa = a->state_dict_hf(), sb = b->state_dict_hf(), sc = c->state_dict_hf();
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
    if (sa[i].second.dim() == 2) EXPECT_FALSE(torch::equal(sa[i].second, sc[i].second));
  }
}

TEST(ParameterCount, TotalAndActive) {
  ModelConfig cfg = named_config();  // d=8, G*d_h=4, d_ff=6, V=11, L=2
  const int64_t attn = 8 * 8 + 4 * 8 + 4 * 8 + 8 * 8, norms = 2 * 8;
  Transformer dense(cfg);
  EXPECT_EQ(dense->parameter_count(), 2 * 11 * 8 + 8 + 2 * (attn + norms + 3 * 6 * 8));
  EXPECT_EQ(dense->parameter_count(/*active_only=*/true), dense->parameter_count());
  cfg.moe.n_experts = 4;
  cfg.moe.top_k = 2;
  cfg.moe.d_expert = 5;
  cfg.moe.n_shared_experts = 1;
  Transformer moe(cfg);
  const int64_t expert = 3 * 5 * 8, router = 4 * 8;
  EXPECT_EQ(moe->parameter_count(), 2 * 11 * 8 + 8 + 2 * (attn + norms + router + 5 * expert));
  EXPECT_EQ(moe->parameter_count(true), 2 * 11 * 8 + 8 + 2 * (attn + norms + router + 3 * expert));
}

void expect_config_error(ModelConfig cfg, const std::string& field) {
  try {
    Transformer m(cfg);
    FAIL() << "accepted a bad " << field;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

TEST(Config, RejectsModelsThatCannotBeBuilt) {
  ModelConfig c = named_config();
  c.n_kv_heads = 3;
  expect_config_error(c, "model.n_kv_heads=3");
  c = named_config();
  c.n_heads = 3;
  expect_config_error(c, "model.n_heads=3");
  c = named_config();
  c.n_heads = 8;  // d_h = 1: RoPE needs pairs
  c.n_kv_heads = 8;
  expect_config_error(c, "RoPE needs an even head size");
  c = named_config();
  c.norm_scaling = "deepnorm";
  expect_config_error(c, "model.norm_scaling=deepnorm");
  c = named_config();
  c.init = "xavier";
  expect_config_error(c, "model.init=xavier");
  c = named_config();
  c.moe.n_experts = 2;
  c.moe.top_k = 3;
  expect_config_error(c, "model.moe.top_k=3");
  c = named_config();
  c.moe.n_experts = 2;
  c.moe.n_shared_experts = 2;
  expect_config_error(c, "model.moe.n_shared_experts=2");
  c = named_config();
  c.n_layers = 0;
  expect_config_error(c, "model.n_layers=0");
}

TEST(Forward, RejectsBadInputs) {
  const ModelConfig cfg = named_config();
  Transformer m(cfg);
  EXPECT_THROW(m->forward(torch::zeros({2, 3}, torch::kInt32)), Error);
  EXPECT_THROW(m->forward(torch::zeros({6}, torch::kInt64)), Error);
  EXPECT_THROW(m->forward(torch::zeros({1, 3}, torch::kInt64), LayerPlan().skip(2)), Error);
  EXPECT_THROW(m->forward(torch::zeros({1, 3}, torch::kInt64), LayerPlan().use_block(0, 7)), Error);
  EXPECT_THROW(m->forward_from(torch::zeros({1, 3, 5}), 0), Error);
  EXPECT_THROW(m->block_forward(2, 0, torch::zeros({1, 3, 8})), Error);
  EXPECT_EQ(m->block_forward(1, 0, torch::zeros({1, 3, 8})).sizes(),
            (std::vector<int64_t>{1, 3, 8}));
}

TEST(LmLoss, IsMeanTokenCrossEntropy) {
  torch::manual_seed(11);
  const torch::Tensor logits = torch::randn({2, 3, 5}, torch::kFloat64);
  const torch::Tensor targets = torch::randint(5, {2, 3}, torch::kInt64);
  double expected = 0;
  for (int b = 0; b < 2; ++b) {
    for (int t = 0; t < 3; ++t) {
      double z = 0;
      for (int v = 0; v < 5; ++v) z += std::exp(logits[b][t][v].item<double>());
      expected += (std::log(z) - logits[b][t][targets[b][t].item<int64_t>()].item<double>()) / 6;
    }
  }
  EXPECT_NEAR(lm_loss(logits, targets).item<double>(), expected, 1e-14);
  // Half precision logits are scored in float32.
  EXPECT_EQ(lm_loss(logits.to(torch::kBFloat16), targets).scalar_type(), torch::kFloat32);
  EXPECT_THROW(lm_loss(logits, targets.view({6})), Error);
}

}  // namespace
}  // namespace dlab
