// Each fused kernel against the plain ATen reference of core/model: outputs
// and gradients agree in float32 (1e-5 relative), and the kernels' own
// backward passes match finite differences in float64.
#include "kernels/fused_ops.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "kernel_test_util.h"
#include "kernels/gemm.h"
#include "metrics/attention_stats.h"
#include "metrics/residual_stats.h"
#include "model/norm.h"
#include "model/rope.h"

namespace dlab {
namespace {

using kernels::Precision;
using test::gradcheck;
using test::rel_error;

torch::Tensor leaf(torch::Tensor t) { return t.detach().requires_grad_(true); }

// (B, T, (H+2G) dh) -> q (B, H, T, dh), k, v (B, G, T, dh)
struct Heads {
  torch::Tensor q, k, v;
};
Heads split_heads(const torch::Tensor& qkv, int64_t H, int64_t G) {
  const int64_t B = qkv.size(0), T = qkv.size(1), dh = qkv.size(2) / (H + 2 * G);
  auto heads = [&](int64_t from, int64_t n) {
    return qkv.narrow(2, from * dh, n * dh).reshape({B, T, n, dh}).transpose(1, 2);
  };
  return Heads{heads(0, H), heads(H, G), heads(H + G, G)};
}

// AttentionImpl::forward's arithmetic on already-projected heads, probabilities too.
std::pair<torch::Tensor, torch::Tensor> attention_ref(const torch::Tensor& qkv, int64_t H,
                                                      int64_t G) {
  Heads h = split_heads(qkv, H, G);
  const int64_t B = qkv.size(0), T = qkv.size(1), dh = h.q.size(3);
  if (G != H) {
    h.k = h.k.repeat_interleave(H / G, 1);
    h.v = h.v.repeat_interleave(H / G, 1);
  }
  const torch::Tensor future = torch::ones({T, T}, torch::kBool).triu(1);
  const torch::Tensor scores = torch::matmul(h.q, h.k.transpose(-2, -1))
                                   .mul(1.0 / std::sqrt(double(dh)))
                                   .masked_fill(future, -INFINITY);
  const torch::Tensor probs = torch::softmax(scores, -1);
  const torch::Tensor y = torch::matmul(probs, h.v).transpose(1, 2).reshape({B, T, H * dh});
  return {y, probs};
}

torch::Tensor rope_ref(const torch::Tensor& qkv, const RopeTables& tab, int64_t H, int64_t G) {
  const int64_t B = qkv.size(0), T = qkv.size(1), dh = qkv.size(2) / (H + 2 * G);
  auto rot = [&](int64_t from, int64_t n) {
    const torch::Tensor x = qkv.narrow(2, from * dh, n * dh).reshape({B, T, n, dh}).transpose(1, 2);
    return rope_apply(x, tab).transpose(1, 2).reshape({B, T, n * dh});
  };
  return torch::cat({rot(0, H), rot(H, G), qkv.narrow(2, (H + G) * dh, G * dh)}, 2);
}

// Runs f on fresh leaves of `inputs`, backpropagates sum(f * R) and returns the
// output and the input gradients.
struct Run {
  torch::Tensor out;
  std::vector<torch::Tensor> grads;
};
Run run(const std::function<torch::Tensor(const std::vector<torch::Tensor>&)>& f,
        const std::vector<torch::Tensor>& inputs, const torch::Tensor& R) {
  std::vector<torch::Tensor> in;
  for (const auto& t : inputs) in.push_back(leaf(t));
  Run r;
  r.out = f(in);
  (r.out * R).sum().backward();
  for (const auto& t : in) r.grads.push_back(t.grad());
  return r;
}

void expect_same(const Run& fused, const Run& ref, double tol, const std::string& what) {
  EXPECT_LT(rel_error(fused.out, ref.out), tol) << what << ": output";
  for (size_t i = 0; i < ref.grads.size(); ++i) {
    EXPECT_LT(rel_error(fused.grads[i], ref.grads[i]), tol) << what << ": gradient of input " << i;
  }
}

TEST(FusedOps, RmsNormMatchesReferenceAndFiniteDifferences) {
  DEPTHLAB_REQUIRE_CAPABILITY();
  torch::manual_seed(1);
  for (int64_t d : {8, 37, 256}) {
    for (double scale : {1.0, 1.0 / std::sqrt(3.0)}) {
      const torch::Tensor x = torch::randn({3, 11, d}) * 2;
      const torch::Tensor w = 1 + 0.3 * torch::randn({d});
      RMSNorm ref_norm(d, 1e-6);
      auto fused = [&](const std::vector<torch::Tensor>& in) {
        return kernels::rmsnorm(in[0], in[1], 1e-6, scale);
      };
      // RMSNormImpl::forward's formula, then the LayerNorm-scaling factor
      auto ref = [&](const std::vector<torch::Tensor>& in) {
        return in[0] * torch::rsqrt(in[0].pow(2).mean(-1, true) + 1e-6) * in[1] * scale;
      };
      const torch::Tensor R = torch::randn_like(x);
      expect_same(run(fused, {x, w}, R), run(ref, {x, w}, R), 1e-5,
                  "rmsnorm d=" + std::to_string(d));
      // the module itself, forward only
      torch::NoGradGuard no_grad;
      ref_norm->weight.copy_(w);
      EXPECT_LT(rel_error(kernels::rmsnorm(x, w, 1e-6, 1.0), ref_norm(x)), 1e-5);
    }
  }
  const torch::Tensor x64 = leaf(torch::randn({2, 3, 13}, torch::kFloat64));
  const torch::Tensor w64 = leaf(1 + 0.3 * torch::randn({13}, torch::kFloat64));
  EXPECT_LT(gradcheck([](const auto& in) { return kernels::rmsnorm(in[0], in[1], 1e-6, 0.7); },
                      {x64, w64}),
            1e-6);
}

TEST(FusedOps, RopeMatchesReferenceAndFiniteDifferences) {
  DEPTHLAB_REQUIRE_CAPABILITY();
  torch::manual_seed(2);
  for (auto [H, G, dh] : {std::tuple<int64_t, int64_t, int64_t>{4, 2, 16}, {3, 3, 6}, {2, 1, 40}}) {
    const int64_t B = 2, T = 9;
    const torch::Tensor qkv = torch::randn({B, T, (H + 2 * G) * dh});
    const RopeTables tab =
        rope_tables(T, dh, 10000.0, torch::TensorOptions().dtype(torch::kFloat32));
    auto fused = [&](const std::vector<torch::Tensor>& in) {
      return kernels::rope_qk(in[0], tab.cos, tab.sin, H, G);
    };
    auto ref = [&](const std::vector<torch::Tensor>& in) { return rope_ref(in[0], tab, H, G); };
    const torch::Tensor R = torch::randn_like(qkv);
    expect_same(run(fused, {qkv}, R), run(ref, {qkv}, R), 1e-5, "rope dh=" + std::to_string(dh));
  }
  const RopeTables t64 = rope_tables(5, 6, 10000.0, torch::TensorOptions().dtype(torch::kFloat64));
  const torch::Tensor x = leaf(torch::randn({2, 5, (2 + 2) * 6}, torch::kFloat64));
  EXPECT_LT(
      gradcheck([&](const auto& in) { return kernels::rope_qk(in[0], t64.cos, t64.sin, 2, 1); },
                {x}),
      1e-6);
}

TEST(FusedOps, SwigluMatchesReferenceAndFiniteDifferences) {
  DEPTHLAB_REQUIRE_CAPABILITY();
  torch::manual_seed(3);
  for (int64_t f : {5, 16, 172, 688}) {
    const torch::Tensor gu = torch::randn({4, 7, 2 * f}) * 3;
    auto fused = [](const std::vector<torch::Tensor>& in) { return kernels::swiglu(in[0]); };
    auto ref = [f](const std::vector<torch::Tensor>& in) {
      return torch::silu(in[0].narrow(-1, 0, f)) * in[0].narrow(-1, f, f);
    };
    const torch::Tensor R = torch::randn({4, 7, f});
    expect_same(run(fused, {gu}, R), run(ref, {gu}, R), 1e-5, "swiglu f=" + std::to_string(f));
  }
  const torch::Tensor gu64 = leaf(torch::randn({3, 2 * 9}, torch::kFloat64) * 2);
  EXPECT_LT(gradcheck([](const auto& in) { return kernels::swiglu(in[0]); }, {gu64}), 1e-6);
}

TEST(FusedOps, LinearMatchesReferenceAndFiniteDifferences) {
  DEPTHLAB_REQUIRE_CAPABILITY();
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({3, 50, 64});
  const std::vector<torch::Tensor> w = {torch::randn({40, 64}) * 0.1, torch::randn({24, 64}) * 0.1,
                                        torch::randn({24, 64}) * 0.1};
  auto fused = [](const std::vector<torch::Tensor>& in) {
    return kernels::linear(in[0], {in[1], in[2], in[3]}, Precision::Fp32);
  };
  auto ref = [](const std::vector<torch::Tensor>& in) {
    return torch::matmul(in[0], torch::cat({in[1], in[2], in[3]}, 0).t());
  };
  const torch::Tensor R = torch::randn({3, 50, 88});
  expect_same(run(fused, {x, w[0], w[1], w[2]}, R), run(ref, {x, w[0], w[1], w[2]}, R), 1e-5,
              "linear");
  const torch::Tensor x64 = leaf(torch::randn({2, 3, 5}, torch::kFloat64));
  const torch::Tensor a = leaf(torch::randn({4, 5}, torch::kFloat64));
  const torch::Tensor b = leaf(torch::randn({3, 5}, torch::kFloat64));
  EXPECT_LT(gradcheck(
                [](const auto& in) {
                  return kernels::linear(in[0], {in[1], in[2]}, Precision::Fp32);
                },
                {x64, a, b}),
            1e-6);
}

// Shapes with several query/key tiles, partial tiles, GQA and MQA, d_h below,
// at and off the vector width.
struct AttnShape {
  int64_t B, T, H, G, dh;
};
const AttnShape kAttnShapes[] = {
    {2, 70, 4, 2, 16}, {1, 130, 2, 2, 24}, {3, 64, 4, 1, 8}, {1, 1, 2, 1, 16}, {2, 200, 8, 8, 32}};

TEST(FusedOps, AttentionMatchesReference) {
  DEPTHLAB_REQUIRE_CAPABILITY();
  torch::manual_seed(5);
  for (const AttnShape& s : kAttnShapes) {
    const torch::Tensor qkv = torch::randn({s.B, s.T, (s.H + 2 * s.G) * s.dh}) * 1.5;
    auto fused = [&](const std::vector<torch::Tensor>& in) {
      return kernels::attention(in[0], s.H, s.G).out;
    };
    auto ref = [&](const std::vector<torch::Tensor>& in) {
      return attention_ref(in[0], s.H, s.G).first;
    };
    const torch::Tensor R = torch::randn({s.B, s.T, s.H * s.dh});
    expect_same(run(fused, {qkv}, R), run(ref, {qkv}, R), 1e-5,
                "attention T=" + std::to_string(s.T) + " dh=" + std::to_string(s.dh));
  }
}

TEST(FusedOps, AttentionGradientMatchesFiniteDifferences) {
  DEPTHLAB_REQUIRE_CAPABILITY();
  torch::manual_seed(6);
  // T = 70 spans two query and two key tiles; G = 1 of H = 2 exercises the
  // accumulation of dK, dV over the heads of a group.
  const torch::Tensor qkv = leaf(torch::randn({1, 70, (2 + 2 * 1) * 4}, torch::kFloat64));
  EXPECT_LT(gradcheck([](const auto& in) { return kernels::attention(in[0], 2, 1).out; }, {qkv}),
            1e-6);
}

TEST(FusedOps, AttentionStatisticsMatchTheProbabilities) {
  DEPTHLAB_REQUIRE_CAPABILITY();
  torch::manual_seed(7);
  const std::vector<double> eps = {1e-3, 1e-2, 1e-1};
  for (const AttnShape& s : kAttnShapes) {
    if (s.T < 2) continue;
    // larger scores: a wide spread of probabilities, many below every threshold
    const torch::Tensor qkv = torch::randn({s.B, s.T, (s.H + 2 * s.G) * s.dh}) * 3;
    torch::NoGradGuard no_grad;
    const kernels::AttentionOutput f = kernels::attention(qkv, s.H, s.G, eps);
    const AttentionStats ref = attention_stats(attention_ref(qkv, s.H, s.G).second, eps);
    const AttentionStats got = attention_stats_from_sums(f.stat_sums, s.B, s.T, eps);
    EXPECT_NEAR(got.entropy, ref.entropy, 1e-5 * ref.entropy) << "T=" << s.T;
    EXPECT_NEAR(got.entropy_normalized, ref.entropy_normalized, 1e-5 * ref.entropy_normalized);
    for (size_t e = 0; e < eps.size(); ++e) {
      // an entry within rounding of a threshold may fall either side: a few per million
      EXPECT_NEAR(got.sparsity[e], ref.sparsity[e], 1e-4) << "eps " << eps[e];
      for (int64_t h = 0; h < s.H; ++h) {
        EXPECT_NEAR(got.head_sparsity[size_t(h)][e], ref.head_sparsity[size_t(h)][e], 1e-4);
      }
    }
    for (int64_t h = 0; h < s.H; ++h) {
      EXPECT_NEAR(got.head_entropy[size_t(h)], ref.head_entropy[size_t(h)],
                  1e-5 * ref.head_entropy[size_t(h)]);
    }
    // the statistics do not change the output
    EXPECT_TRUE(torch::equal(f.out, kernels::attention(qkv, s.H, s.G).out));
  }
}

TEST(FusedOps, LmHeadLossMatchesReferenceAndFiniteDifferences) {
  DEPTHLAB_REQUIRE_CAPABILITY();
  torch::manual_seed(8);
  // V large enough for several row chunks (8 MiB of logits each)
  for (auto [N, V, d] : {std::tuple<int64_t, int64_t, int64_t>{300, 17, 12}, {2100, 4096, 32}}) {
    const torch::Tensor x = torch::randn({N, d});
    const torch::Tensor w = torch::randn({V, d}) * 0.3;
    const torch::Tensor targets = torch::randint(V, {N}, torch::kInt64);
    auto fused = [&](const std::vector<torch::Tensor>& in) {
      return kernels::lm_head_loss(in[0], in[1], targets, Precision::Fp32);
    };
    auto ref = [&](const std::vector<torch::Tensor>& in) {
      return torch::nn::functional::cross_entropy(torch::matmul(in[0], in[1].t()), targets);
    };
    const torch::Tensor R = torch::full({}, 1.7);
    expect_same(run(fused, {x, w}, R), run(ref, {x, w}, R), 1e-5, "lm head V=" + std::to_string(V));
  }
  const torch::Tensor x64 = leaf(torch::randn({2, 3, 4}, torch::kFloat64));
  const torch::Tensor w64 = leaf(torch::randn({7, 4}, torch::kFloat64));
  const torch::Tensor t64 = torch::randint(7, {2, 3}, torch::kInt64);
  EXPECT_LT(
      gradcheck(
          [&](const auto& in) { return kernels::lm_head_loss(in[0], in[1], t64, Precision::Fp32); },
          {x64, w64}),
      1e-6);
  EXPECT_THROW(kernels::lm_head_loss(torch::randn({2, 4}), torch::randn({7, 4}),
                                     torch::tensor({1, 7}, torch::kInt64), Precision::Fp32),
               Error);
}

TEST(FusedOps, Bf16ProductsRoundTheirInputsAndSumInFloat32) {
  DEPTHLAB_REQUIRE_CAPABILITY();
  if (!kernels::gemm_bf16_supported()) GTEST_SKIP() << "no bf16 matrix products on this CPU";
  torch::manual_seed(9);
  const torch::Tensor x = torch::randn({64, 96});
  const torch::Tensor w = torch::randn({48, 96});
  const torch::Tensor y = kernels::linear(x, {w}, Precision::Bf16);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  const torch::Tensor exact = torch::matmul(x.to(torch::kBFloat16).to(torch::kFloat32),
                                            w.to(torch::kBFloat16).to(torch::kFloat32).t());
  EXPECT_LT(rel_error(y, exact), 1e-5);
}

}  // namespace
}  // namespace dlab

namespace dlab {
namespace {

TEST(FusedOps, ResidualMomentsMatchTheReferenceStatistics) {
  DEPTHLAB_REQUIRE_CAPABILITY();
  torch::manual_seed(10);
  std::vector<torch::Tensor> cases = {
      torch::randn({4, 33, 64}) * 3 + 1,                                  // plain
      torch::randn({2, 50, 17}).pow(3),                                   // heavy tails
      torch::randn({3, 40, 32}) * 0.01 + torch::randn({1, 1, 32}) * 100,  // offsets per channel
  };
  // a constant token, a constant channel, a massive first token (attention sinks)
  torch::Tensor special = torch::randn({2, 30, 24});
  special[0][3].fill_(2.5);
  special.select(2, 5).fill_(-1.0);
  special[0][0].mul_(300);
  cases.push_back(special);
  for (const torch::Tensor& h : cases) {
    const kernels::ResidualMoments m = kernels::residual_moments(h, /*with_kurtosis=*/true);
    const KurtosisStats ref = kurtosis_stats(h);
    const double var = token_variance(h);
    EXPECT_NEAR(m.token_variance, var, 1e-5 * var);
    EXPECT_NEAR(m.kurtosis_token, ref.token_mean, 1e-5 * ref.token_mean);
    EXPECT_NEAR(m.kurtosis_channel_mean, ref.channel_mean, 1e-5 * ref.channel_mean);
    EXPECT_NEAR(m.kurtosis_channel_max, ref.channel_max, 1e-5 * ref.channel_max);
    EXPECT_NEAR(m.kurtosis_flat, ref.flat, 1e-5 * ref.flat);
    EXPECT_EQ(kernels::residual_moments(h, /*with_kurtosis=*/false).token_variance,
              m.token_variance);
  }
  // a constant tensor: variance 0, every kurtosis takes the "3 when s = 0" rule
  const kernels::ResidualMoments c = kernels::residual_moments(torch::full({3, 8}, 0.7), true);
  EXPECT_EQ(c.token_variance, 0.0);
  EXPECT_EQ(c.kurtosis_token, 3.0);
  EXPECT_EQ(c.kurtosis_channel_mean, 3.0);
  EXPECT_EQ(c.kurtosis_flat, 3.0);
  EXPECT_THROW(kernels::residual_moments(torch::randn({5, 1}), false), Error);
}

}  // namespace
}  // namespace dlab
