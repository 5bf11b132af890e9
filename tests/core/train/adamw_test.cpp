// Our AdamW against LibTorch's own torch::optim::AdamW (an independent
// implementation) with the same decay groups.
#include "train/adamw.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace dlab {

TEST(AdamW, DecayGroupsFollowMetrics) {
  EXPECT_TRUE(adamw_decays("model.layers.0.self_attn.q_proj.weight", torch::zeros({4, 4})));
  EXPECT_TRUE(adamw_decays("model.layers.1.mlp.gate.weight", torch::zeros({8, 4})));
  EXPECT_TRUE(adamw_decays("lm_head.weight", torch::zeros({16, 4})));
  EXPECT_FALSE(adamw_decays("model.embed_tokens.weight", torch::zeros({16, 4})));
  EXPECT_FALSE(adamw_decays("model.norm.weight", torch::zeros({4})));
  EXPECT_FALSE(adamw_decays("model.layers.0.input_layernorm.weight", torch::zeros({4})));
}

TEST(AdamW, MatchesTorchAdamW) {
  torch::manual_seed(0);
  const torch::Tensor w0 = torch::randn({6, 5}, torch::kFloat64);
  const torch::Tensor g0 = torch::randn({6, 5}, torch::kFloat64);
  const torch::Tensor n0 = torch::randn({5}, torch::kFloat64);

  torch::Tensor w = w0.clone().requires_grad_(true), n = n0.clone().requires_grad_(true);
  AdamW ours({{"model.layers.0.mlp.up_proj.weight", w}, {"model.norm.weight", n}},
             AdamWOptions{/*beta1=*/0.9, /*beta2=*/0.95, /*eps=*/1e-8, /*weight_decay=*/0.3});

  torch::Tensor w2 = w0.clone().requires_grad_(true), n2 = n0.clone().requires_grad_(true);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(
      std::vector<torch::Tensor>{w2},
      std::make_unique<torch::optim::AdamWOptions>(
          torch::optim::AdamWOptions(1.0).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.3)));
  groups.emplace_back(
      std::vector<torch::Tensor>{n2},
      std::make_unique<torch::optim::AdamWOptions>(
          torch::optim::AdamWOptions(1.0).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.0)));
  torch::optim::AdamW reference(groups, torch::optim::AdamWOptions(1.0));

  for (int step = 0; step < 5; ++step) {
    const double lr = 0.01 * (step + 1);
    const torch::Tensor g = g0 * (step + 1) - w0 * 0.1;
    w.mutable_grad() = g.clone();
    n.mutable_grad() = n0 * 0.5;
    w2.mutable_grad() = g.clone();
    n2.mutable_grad() = n0 * 0.5;
    ours.step(lr);
    for (auto& group : reference.param_groups()) {
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    }
    reference.step();
    ASSERT_TRUE(torch::allclose(w, w2, /*rtol=*/1e-12, /*atol=*/1e-14)) << "step " << step;
    ASSERT_TRUE(torch::allclose(n, n2, /*rtol=*/1e-12, /*atol=*/1e-14)) << "step " << step;
  }
  EXPECT_EQ(ours.steps_taken(), 5);
}

TEST(AdamW, StateRoundTripContinuesIdentically) {
  torch::manual_seed(1);
  const torch::Tensor w0 = torch::randn({3, 3});
  auto run = [&](bool reload) {
    torch::Tensor w = w0.clone().requires_grad_(true);
    AdamW opt({{"model.layers.0.mlp.up_proj.weight", w}}, AdamWOptions{});
    for (int s = 0; s < 6; ++s) {
      if (reload && s == 3) {
        const auto st = opt.state();
        std::vector<std::pair<std::string, torch::Tensor>> copy;
        for (const auto& [k, t] : st) copy.emplace_back(k, t.clone());
        AdamW fresh({{"model.layers.0.mlp.up_proj.weight", w}}, AdamWOptions{});
        fresh.load_state(copy, opt.steps_taken());
        opt = std::move(fresh);
      }
      w.mutable_grad() = (w.detach() * 0.3 + float(s)).clone();
      opt.step(0.01);
    }
    return w.detach().clone();
  };
  EXPECT_TRUE(torch::equal(run(false), run(true)));
}

}  // namespace dlab

namespace dlab {

// The fused one-pass update (train.kernels = fused) against the ATen one:
// parameters and both moments agree to float32 rounding over steps with
// clipping factors, a parameter without a gradient is left alone by both, and
// slices of odd lengths cover the vector tails.
TEST(AdamW, FusedUpdateMatchesTheReference) {
  torch::manual_seed(3);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
      {"model.layers.0.mlp.up_proj.weight", {37, 29}},
      {"model.layers.0.input_layernorm.weight", {29}},
      {"lm_head.weight", {300, 257}},  // more than one 64K slice
      {"model.layers.0.mlp.experts.1.up_proj.weight", {5, 3}}};
  std::vector<std::pair<std::string, torch::Tensor>> a, b;
  for (const auto& [name, shape] : shapes) {
    const torch::Tensor w = torch::randn(shape);
    a.emplace_back(name, w.clone().requires_grad_(true));
    b.emplace_back(name, w.clone().requires_grad_(true));
  }
  AdamW fused(a, AdamWOptions{0.9, 0.95, 1e-8, 0.1, /*fused=*/true});
  AdamW ref(b, AdamWOptions{0.9, 0.95, 1e-8, 0.1, /*fused=*/false});
  for (int step = 0; step < 6; ++step) {
    for (size_t i = 0; i + 1 < a.size(); ++i) {  // the expert gets no gradient
      const torch::Tensor g = torch::randn_like(a[i].second) * (step + 1);
      a[i].second.mutable_grad() = g.clone();
      b[i].second.mutable_grad() = g.clone();
    }
    const double scale = step % 2 ? 0.37 : 1.0;
    fused.step(1e-2 * (step + 1), scale);
    ref.step(1e-2 * (step + 1), scale);
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_TRUE(torch::allclose(a[i].second, b[i].second, /*rtol=*/1e-6, /*atol=*/1e-7))
          << a[i].first << " step " << step;
    }
  }
  const auto sa = fused.state(), sb = ref.state();
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_TRUE(torch::allclose(sa[i].second, sb[i].second, /*rtol=*/1e-6, /*atol=*/1e-6))
        << sa[i].first << ": max difference "
        << (sa[i].second - sb[i].second).abs().max().item<double>() << " of "
        << sb[i].second.abs().max().item<double>();
  }
  EXPECT_TRUE(torch::equal(a.back().second, b.back().second));  // untouched by both
}

}  // namespace dlab
