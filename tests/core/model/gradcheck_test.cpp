// Gradient check: autograd gradients of (LM loss + aux loss) against finite
// differences, in float64, for EVERY entry of every parameter tensor.
//
// Finite-difference scheme: the fourth-order central stencil
//   g ≈ [8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))] / (12 h),  h = 3e-4.
// Its truncation error is O(h^4 f^(5)) ~ 1e-15 and its rounding error about
// 18 · (a few ulp of f ≈ 3) / (12 h) ~ 5e-12, so the numerical gradient is good
// to about 1e-11 absolutely (measured: ~3e-12 at worst). Plain central
// differences cannot do that: at h = 1e-6 rounding gives ~1e-9 absolute error,
// at h = 1e-4 the h² truncation already gives ~2e-8. With that noise floor, a
// relative error |a - n| / max(|a| + |n|, 1e-5) < 1e-6 is a meaningful test
// for every entry: entries with |grad| above 1e-5 (about 94% of them; more than
// half is asserted) are compared relatively, the rest absolutely at the 1e-11
// level. (Measured worst relative errors: 2e-7 or less.)
//
// MoE routing is discontinuous where the k-th and (k+1)-th router
// probabilities of a token cross. The inputs are checked to keep that gap
// above 2e-3: a stencil move of at most 2h = 6e-4 in one weight changes a
// router probability by about |dp/dθ| · 6e-4 ≲ 0.25 · 3 · 6e-4 ≈ 5e-4. Every
// finite-difference evaluation also re-checks that no token's top-k set changed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "model/transformer.h"
#include "model_test_util.h"

namespace dlab {
namespace {

constexpr double kStep = 3e-4;
constexpr double kFloor = 1e-5;
constexpr double kTolerance = 1e-6;
constexpr double kRouterGap = 2e-3;

struct Problem {
  Transformer model{nullptr};
  torch::Tensor inputs, targets;  // (B, T)
};

// Loss and, for MoE models, the top-k expert sets of every token: per MoE
// position the sorted expert ids (N, k).
double evaluate(Problem& p, std::vector<torch::Tensor>* routing) {
  ProbeRequest probes;
  probes.mask = routing ? kProbeRouterLogits : kProbeNone;
  const ForwardOutput out = p.model->forward(p.inputs, LayerPlan{}, probes);
  if (routing) {
    const int k = p.model->config().moe.top_k;
    for (const torch::Tensor& r : out.router_logits) {
      routing->push_back(std::get<0>(std::get<1>(r.topk(k, /*dim=*/-1)).sort(/*dim=*/-1)));
    }
  }
  return (lm_loss(out.logits, p.targets) + out.aux_loss).item<double>();
}

// Smallest gap between the k-th and (k+1)-th router probability of any token.
double min_router_gap(Problem& p) {
  ProbeRequest probes;
  probes.mask = kProbeRouterLogits;
  const ForwardOutput out = p.model->forward(p.inputs, LayerPlan{}, probes);
  const int k = p.model->config().moe.top_k;
  double gap = 1.0;
  for (const torch::Tensor& r : out.router_logits) {
    const torch::Tensor sorted = std::get<0>(torch::softmax(r, -1).sort(-1, /*descending=*/true));
    gap = std::min(gap, (sorted.select(1, k - 1) - sorted.select(1, k)).min().item<double>());
  }
  return gap;
}

Problem make_problem(const ModelConfig& cfg, uint64_t seed) {
  Problem p;
  p.model = test::make_model(cfg, seed, torch::kFloat64);
  // Larger weights than the 0.02 init so that gradients are O(1e-3..1), not tiny.
  test::randomize(p.model, 0.3, seed + 1);
  p.inputs = test::random_tokens(/*B=*/2, /*T=*/5, cfg.vocab_size, seed + 2);
  p.targets = test::random_tokens(/*B=*/2, /*T=*/5, cfg.vocab_size, seed + 3);
  return p;
}

void gradient_check(const ModelConfig& cfg, uint64_t seed) {
  torch::set_num_threads(1);  // tiny tensors: thread hand-offs cost more than they save
  Problem p = make_problem(cfg, seed);
  const bool moe = cfg.is_moe() && cfg.moe.top_k < cfg.moe.n_experts;
  if (moe) {
    const double gap = min_router_gap(p);
    std::printf("  smallest k-th/(k+1)-th router probability gap %.3g\n", gap);
    ASSERT_GT(gap, kRouterGap) << "seed " << seed << ": two router probabilities of a token are "
                               << gap << " apart, too close for finite differences; "
                               << "choose another seed";
  }
  {
    const ForwardOutput out = p.model->forward(p.inputs);
    (lm_loss(out.logits, p.targets) + out.aux_loss).backward();
  }
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> base_routing;
  const double f0 = evaluate(p, moe ? &base_routing : nullptr);
  ASSERT_TRUE(std::isfinite(f0));
  for (size_t l = 0; l < base_routing.size(); ++l) {
    // Every expert must see a token, or its weights would be checked only trivially (0 == 0).
    const torch::Tensor count =
        torch::bincount(base_routing[l].reshape({-1}), {}, cfg.moe.n_experts);
    ASSERT_GT(count.min().item<int64_t>(), 0)
        << "seed " << seed << ": an expert of MoE layer " << l << " receives no token (counts "
        << count << "); choose another seed";
  }

  double worst = 0;
  std::string worst_at;
  int64_t checked = 0, nonzero = 0;
  for (auto& [name, param] : p.model->state_dict_hf()) {
    ASSERT_TRUE(param.grad().defined()) << name << " has no gradient";
    torch::Tensor flat = param.view({-1});
    const torch::Tensor grad = param.grad().view({-1});
    for (int64_t i = 0; i < flat.numel(); ++i) {
      const double x0 = flat[i].item<double>();
      auto f = [&](double x) {
        flat[i].fill_(x);
        std::vector<torch::Tensor> routing;
        const double v = evaluate(p, moe ? &routing : nullptr);
        for (size_t l = 0; l < routing.size(); ++l) {
          if (!torch::equal(routing[l], base_routing[l])) {
            ADD_FAILURE() << "moving " << name << "[" << i << "] by " << x - x0
                          << " changed the top-k experts of layer " << l;
          }
        }
        return v;
      };
      const double d1 = f(x0 + kStep) - f(x0 - kStep);
      const double d2 = f(x0 + 2 * kStep) - f(x0 - 2 * kStep);
      flat[i].fill_(x0);
      const double numeric = (8 * d1 - d2) / (12 * kStep);
      const double analytic = grad[i].item<double>();
      const double rel =
          std::abs(analytic - numeric) / std::max(std::abs(analytic) + std::abs(numeric), kFloor);
      if (rel > worst) {
        worst = rel;
        std::ostringstream s;
        s << name << "[" << i << "]: autograd " << analytic << ", numeric " << numeric;
        worst_at = s.str();
      }
      ++checked;
      nonzero += std::abs(analytic) > kFloor;
    }
  }
  std::printf("  %lld entries (%lld with |grad| > %g), worst relative error %.3g at %s\n",
              (long long)checked, (long long)nonzero, kFloor, worst, worst_at.c_str());
  EXPECT_EQ(checked, p.model->parameter_count());
  EXPECT_LT(worst, kTolerance) << worst_at;
  // Most entries must carry a real gradient, or the check would prove little.
  EXPECT_GT(nonzero, checked / 2);
}

TEST(GradCheck, Dense) { gradient_check(test::tiny_config(/*n_kv_heads=*/4), 11); }

TEST(GradCheck, GroupedQueryAttention) { gradient_check(test::tiny_config(/*n_kv_heads=*/2), 12); }

TEST(GradCheck, MoE) {
  ModelConfig cfg = test::tiny_config(/*n_kv_heads=*/2, /*n_experts=*/4, /*n_shared=*/0);
  cfg.moe.d_expert = 4;  // fewer entries: the MoE forward is the slowest to repeat
  gradient_check(cfg, 19);
}

TEST(GradCheck, MoEWithSharedExpert) {
  ModelConfig cfg = test::tiny_config(/*n_kv_heads=*/4, /*n_experts=*/4, /*n_shared=*/1);
  cfg.moe.d_expert = 4;
  cfg.norm_scaling = "layernorm_scaling";  // the scaled path too
  gradient_check(cfg, 14);
}

}  // namespace
}  // namespace dlab
