// The analyses of METRICS.md §3 on constructed cases, and the cached path
// against the recompute-everything path.
#include "analysis/analyzer.h"

#include <gtest/gtest.h>

#include "analysis_test_util.h"
#include "common/error.h"

namespace dlab {
namespace {

using test::close;

void expect_matrix_near(const Matrix& a, const Matrix& b, const std::string& what,
                        double rel = 1e-6) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size()) << what;
    for (size_t j = 0; j < a[i].size(); ++j) {
      EXPECT_TRUE(close(a[i][j], b[i][j], rel))
          << what << "[" << i << "][" << j << "] " << a[i][j] << " vs " << b[i][j];
    }
  }
}

void expect_vector_near(const std::vector<double>& a, const std::vector<double>& b,
                        const std::string& what, double rel = 1e-6) {
  expect_matrix_near(Matrix{a}, Matrix{b}, what, rel);
}

void expect_summary_near(const JacobianSummary& a, const JacobianSummary& b,
                         const std::string& what) {
  EXPECT_TRUE(close(a.deviation, b.deviation, 1e-5)) << what;
  EXPECT_TRUE(close(a.offdiag, b.offdiag, 1e-5)) << what;
  EXPECT_TRUE(close(a.diag_mean, b.diag_mean, 1e-5)) << what;
  EXPECT_TRUE(close(a.diag_std, b.diag_std, 1e-5)) << what;
  EXPECT_TRUE(close(a.frobenius, b.frobenius, 1e-5)) << what;
  EXPECT_TRUE(close(a.spectral, b.spectral, 1e-4)) << what;
}

// The model's plain loss: one forward over the whole evaluation set.
double plain_loss(Transformer& m, const EvalSet& e) {
  torch::NoGradGuard no_grad;
  return lm_loss(m->forward(e.inputs).logits, e.targets).item<double>();
}

AnalyzerOptions with_batch(int batch, bool naive = false, int64_t budget = int64_t(1) << 30) {
  AnalyzerOptions o;
  o.batch_size = batch;
  o.naive = naive;
  o.cache_budget_bytes = budget;
  return o;
}

TEST(Analyzer, IntactPlanGivesThePlainLoss) {
  const ModelConfig cfg = test::tiny_config();
  Transformer m = test::tiny_model(cfg);
  const EvalSet e = test::tiny_eval(cfg.vocab_size);
  const double plain = plain_loss(m, e);
  for (bool naive : {false, true}) {
    Analyzer a(m, e, with_batch(4, naive));
    EXPECT_TRUE(close(a.loss(), plain, 1e-6)) << a.loss() << " vs " << plain;
    const EvalResult r = a.evaluate(LayerPlan{});
    EXPECT_TRUE(close(r.loss, plain, 1e-6));
    EXPECT_EQ(r.plan, "intact");
    ASSERT_EQ(r.hidden_change.size(), size_t(cfg.n_layers) + 1);
    for (double c : r.hidden_change) EXPECT_EQ(c, 0.0);
  }
}

TEST(Analyzer, EvaluateMatchesAFullForwardOfThePlan) {
  const ModelConfig cfg = test::tiny_config();
  Transformer m = test::tiny_model(cfg);
  const EvalSet e = test::tiny_eval(cfg.vocab_size);
  Analyzer a(m, e, with_batch(4));
  LinearMap map;
  torch::manual_seed(11);
  map.weight = torch::eye(cfg.d_model) + 0.1 * torch::randn({cfg.d_model, cfg.d_model});
  map.bias = 0.1 * torch::randn({cfg.d_model});
  const LayerPlan plan = LayerPlan().swap(1, 3).linear(2, map);
  const EvalResult r = a.evaluate(plan);
  torch::NoGradGuard no_grad;
  const ForwardOutput full = m->forward(e.inputs, plan, ProbeRequest{kProbeResidPost});
  const ForwardOutput intact = m->forward(e.inputs, {}, ProbeRequest{kProbeResidPost});
  EXPECT_TRUE(close(r.loss, lm_loss(full.logits, e.targets).item<double>(), 1e-6));
  EXPECT_GT(std::abs(r.delta_loss), 1e-3);
  for (int l = 0; l <= cfg.n_layers; ++l) {
    const torch::Tensor h = intact.hidden[size_t(l)];
    const double want = (full.hidden[size_t(l)] - h).norm(2, -1).sum().item<double>() /
                        h.norm(2, -1).sum().item<double>();
    EXPECT_TRUE(close(r.hidden_change[size_t(l)], want, 1e-5)) << "layer " << l;
    if (l <= 1) EXPECT_EQ(r.hidden_change[size_t(l)], 0.0);
    if (l >= 2) EXPECT_GT(r.hidden_change[size_t(l)], 1e-3);
  }
  EXPECT_EQ(r.plan, plan.describe());
}

TEST(Analyzer, IdentityBlockHasNoEffect) {
  const ModelConfig cfg = test::tiny_config(5);
  Transformer m = test::tiny_model(cfg);
  test::make_identity(m, 1);
  test::make_identity(m, 3);
  const EvalSet e = test::tiny_eval(cfg.vocab_size);
  Analyzer a(m, e, with_batch(4));

  // Causal: skipping an identity block changes no later block's update.
  const CausalResult c = a.causal();
  for (int l = 2; l < cfg.n_layers; ++l) EXPECT_EQ(c.matrix[1][size_t(l)], 0.0) << "l=" << l;
  EXPECT_GT(c.matrix[0][2], 1e-3);  // a real block does have an effect (the test can fail)

  // Permutation: swapping two identity blocks changes nothing.
  const PermutationResult p = a.permutation();
  EXPECT_EQ(p.matrix[1][3], 0.0);
  EXPECT_GT(p.matrix[0][2], 1e-4);

  // Usefulness: the identity is its own best linear fit, so the ratio is 1.
  const UsefulnessResult u = a.usefulness();
  EXPECT_NEAR(u.ratio[1], 1.0, 1e-5);
  EXPECT_NEAR(u.ratio[3], 1.0, 1e-5);
  const LinearFit fit = a.linear_fit(1);
  EXPECT_LT((fit.weight - torch::eye(cfg.d_model, torch::kFloat64)).abs().max().item<double>(),
            1e-6);
  EXPECT_LT(fit.bias.abs().max().item<double>(), 1e-6);
  EXPECT_LT(u.useful_layers, cfg.n_layers);

  // Jacobian: exactly the identity.
  const JacobianLayers j = a.jacobians(2);
  EXPECT_LT(j.summary[1].deviation, 1e-7);
  EXPECT_LT((j.matrix[1] - torch::eye(cfg.d_model)).abs().max().item<double>(), 1e-6);
  EXPECT_GT(j.summary[0].deviation, 1e-4);

  // Skipping it: same loss, no hidden state moves.
  const EvalResult r = a.evaluate(LayerPlan().skip(1));
  EXPECT_EQ(r.loss, a.loss());
  for (double h : r.hidden_change) EXPECT_EQ(h, 0.0);
}

TEST(Analyzer, SwappingABlockWithItselfChangesNothing) {
  ModelConfig cfg = test::tiny_config();
  cfg.norm_scaling = "layernorm_scaling";
  Transformer m = test::tiny_model(cfg);
  const EvalSet e = test::tiny_eval(cfg.vocab_size);
  Analyzer a(m, e, with_batch(4));
  for (int i = 0; i < cfg.n_layers; ++i) {
    const EvalResult r = a.evaluate(LayerPlan().swap(i, i));
    EXPECT_EQ(r.loss, a.loss());
    for (double h : r.hidden_change) EXPECT_EQ(h, 0.0);
  }
  // A real swap does change the loss (with the factor staying at the position).
  EXPECT_GT(std::abs(a.evaluate(LayerPlan().swap(0, 3)).delta_loss), 1e-4);
}

TEST(Analyzer, ExactlyLinearBlockIsNotUseful) {
  // Position 2 of the analysed model is the linear map fitted to block 2, so it
  // is exactly affine in its input; its own fit must reproduce it.
  const ModelConfig cfg = test::tiny_config();
  Transformer m = test::tiny_model(cfg);
  const EvalSet e = test::tiny_eval(cfg.vocab_size);
  Analyzer intact(m, e, with_batch(4));
  const LinearFit fit = intact.linear_fit(2);
  AnalyzerOptions o = with_batch(4);
  o.base_plan.linear(2, fit.map());
  Analyzer a(m, e, o);
  const UsefulnessResult u = a.usefulness();
  EXPECT_NEAR(u.ratio[2], 1.0, 1e-5);
  EXPECT_GT(std::abs(u.ratio[0] - 1.0), 1e-3);  // a real block is not linear
  const LinearFit refit = a.linear_fit(2);
  EXPECT_LT((refit.weight - fit.weight).abs().max().item<double>(), 1e-3);
  // Its Jacobian is the map itself.
  const JacobianLayers j = a.jacobians(1);
  EXPECT_LT((j.matrix[2] - fit.weight.to(torch::kFloat32)).abs().max().item<double>(), 1e-6);
}

TEST(Analyzer, TransposeQuirkDiffersUnlessSymmetric) {
  const ModelConfig cfg = test::tiny_config();
  Transformer m = test::tiny_model(cfg);
  test::make_identity(m, 1);  // W = I: symmetric, so the quirk cannot matter there
  const EvalSet e = test::tiny_eval(cfg.vocab_size);
  Analyzer a(m, e, with_batch(4));
  const UsefulnessResult plain = a.usefulness();
  UsefulnessOptions q;
  q.transpose_quirk = true;
  const UsefulnessResult quirk = a.usefulness(q);
  EXPECT_TRUE(quirk.options.transpose_quirk);
  EXPECT_NEAR(quirk.ratio[1], plain.ratio[1], 1e-6);
  for (int l : {0, 2, 3}) {
    EXPECT_GT(std::abs(quirk.ratio[size_t(l)] - plain.ratio[size_t(l)]), 1e-4) << "layer " << l;
  }
  // The quirk evaluates x Wᵀ + b with the same fit.
  const LinearFit fit = a.linear_fit(2);
  LinearMap t = fit.map(/*transposed=*/true);
  EXPECT_TRUE(close(a.evaluate(LayerPlan().linear(2, t)).loss, quirk.linear_loss[2], 1e-6));
}

TEST(Analyzer, HeldoutFitEvaluatesOnTheSecondHalf) {
  const ModelConfig cfg = test::tiny_config();
  Transformer m = test::tiny_model(cfg);
  const EvalSet e = test::tiny_eval(cfg.vocab_size, /*N=*/7);
  Analyzer a(m, e, with_batch(3));
  UsefulnessOptions o;
  o.heldout_fit = true;
  const UsefulnessResult u = a.usefulness(o);
  ASSERT_EQ(u.ratio.size(), size_t(cfg.n_layers));
  // Fit on windows 0..2, evaluate on 3..6.
  const EvalSet second = eval_set_from_tensors(e.inputs.slice(0, 3), e.targets.slice(0, 3), "t");
  EXPECT_TRUE(close(u.base_loss, plain_loss(m, second), 1e-6));
  const LinearFit fit = a.linear_fit(1, 0, 3);
  Analyzer on_second(m, second, with_batch(3));
  EXPECT_TRUE(
      close(on_second.evaluate(LayerPlan().linear(1, fit.map())).loss, u.linear_loss[1], 1e-6));
  for (double r : u.ratio) EXPECT_TRUE(std::isfinite(r));
  // With too few windows it is an error that names the option.
  Analyzer one(m, test::tiny_eval(cfg.vocab_size, 1), with_batch(3));
  try {
    one.usefulness(o);
    FAIL() << "expected an error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("--heldout-fit"), std::string::npos) << err.what();
  }
}

// Every metric of the cached path equals the recompute-everything path, and the
// no-cache fallback (budget exceeded) gives the same numbers as the cache.
void expect_cached_equals_naive(const ModelConfig& cfg) {
  Transformer m = test::tiny_model(cfg);
  const EvalSet e = test::tiny_eval(cfg.vocab_size, /*N=*/6);
  AnalysisRequest req;
  req.jacobian_samples = 2;
  req.token_sequence = 4;
  req.token_position = 5;
  Analyzer cached(m, e, with_batch(4));
  Analyzer naive(m, e, with_batch(4, /*naive=*/true));
  Analyzer fallback(m, e, with_batch(4, false, /*budget=*/0));
  EXPECT_TRUE(cached.cache_enabled());
  EXPECT_FALSE(fallback.cache_enabled());
  EXPECT_FALSE(naive.cache_enabled());
  const AnalysisResult rc = cached.analyze(req);
  for (Analyzer* other : {&naive, &fallback}) {
    const AnalysisResult r = other->analyze(req);
    const std::string tag = other == &naive ? "naive " : "fallback ";
    EXPECT_TRUE(close(r.loss, rc.loss)) << tag;
    expect_matrix_near(r.causal->matrix, rc.causal->matrix, tag + "causal");
    EXPECT_TRUE(close(r.causal->score, rc.causal->score)) << tag;
    expect_matrix_near(r.permutation->matrix, rc.permutation->matrix, tag + "permutation");
    EXPECT_TRUE(close(r.permutation->score, rc.permutation->score)) << tag;
    expect_vector_near(r.usefulness->ratio, rc.usefulness->ratio, tag + "usefulness");
    EXPECT_EQ(r.usefulness->useful_layers, rc.usefulness->useful_layers) << tag;
    const DepthSummaries &s = *r.summaries, &sc = *rc.summaries;
    expect_vector_near(s.block_influence, sc.block_influence, tag + "BI");
    expect_matrix_near(s.angular_distance, sc.angular_distance, tag + "angular");
    expect_vector_near(s.logit_lens_loss, sc.logit_lens_loss, tag + "logit lens");
    EXPECT_EQ(s.removal_order, sc.removal_order) << tag;
    expect_vector_near(s.loss_after_removal, sc.loss_after_removal, tag + "removal");
    expect_matrix_near(s.layer_similarity, sc.layer_similarity, tag + "similarity");
    expect_vector_near(s.residual_variance, sc.residual_variance, tag + "variance");
    expect_matrix_near(s.expert_load, sc.expert_load, tag + "expert load");
    for (int l = 0; l < cfg.n_layers; ++l) {
      expect_summary_near(r.jacobian->summary[size_t(l)], rc.jacobian->summary[size_t(l)],
                          tag + "jacobian " + std::to_string(l));
      expect_summary_near(r.token_jacobian->summary[size_t(l)],
                          rc.token_jacobian->summary[size_t(l)],
                          tag + "token jacobian " + std::to_string(l));
    }
    // The held-out and transposed variants of the usefulness fit as well.
    UsefulnessOptions o;
    o.heldout_fit = true;
    o.transpose_quirk = true;
    expect_vector_near(other->usefulness(o).ratio, cached.usefulness(o).ratio, tag + "heldout");
    const LayerPlan plan = LayerPlan().skip(0).swap(1, 2);
    const EvalResult ea = other->evaluate(plan), eb = cached.evaluate(plan);
    EXPECT_TRUE(close(ea.loss, eb.loss)) << tag;
    expect_vector_near(ea.hidden_change, eb.hidden_change, tag + "hidden change");
  }
  // Shapes and the triangles.
  const size_t L = size_t(cfg.n_layers);
  for (size_t i = 0; i < L; ++i) {
    for (size_t j = 0; j <= i; ++j) {
      EXPECT_EQ(rc.causal->matrix[i][j], 0.0);
      EXPECT_EQ(rc.permutation->matrix[i][j], 0.0);
    }
  }
  EXPECT_EQ(rc.summaries->loss_after_removal.size(), L - 1);
  EXPECT_TRUE(close(rc.summaries->logit_lens_loss[L], rc.loss, 1e-6));
}

TEST(Analyzer, CachedEqualsNaiveDense) { expect_cached_equals_naive(test::tiny_config()); }

TEST(Analyzer, CachedEqualsNaiveMoeWithLayerNormScaling) {
  ModelConfig cfg = test::tiny_config(3);
  cfg.norm_scaling = "layernorm_scaling";
  cfg.moe.n_experts = 4;
  cfg.moe.top_k = 2;
  cfg.moe.n_shared_experts = 1;
  cfg.moe.d_expert = 12;
  expect_cached_equals_naive(cfg);
  // Expert load: one row per layer, each a distribution over the experts.
  Transformer m = test::tiny_model(cfg);
  Analyzer a(m, test::tiny_eval(cfg.vocab_size), with_batch(4));
  const DepthSummaries s = a.summaries();
  ASSERT_EQ(s.expert_load.size(), size_t(cfg.n_layers));
  for (const auto& row : s.expert_load) {
    ASSERT_EQ(row.size(), size_t(cfg.moe.n_experts));
    double sum = 0;
    for (double f : row) sum += f;
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
}

TEST(Analyzer, MetricsFollowTheirDefinitions) {
  // Direct computations of METRICS §3 from two full forward passes.
  const ModelConfig cfg = test::tiny_config(3);
  Transformer m = test::tiny_model(cfg);
  const EvalSet e = test::tiny_eval(cfg.vocab_size, 5);
  Analyzer a(m, e, with_batch(2));
  torch::NoGradGuard no_grad;
  const auto H = m->forward(e.inputs, {}, ProbeRequest{kProbeResidPost}).hidden;
  const auto Hs = m->forward(e.inputs, LayerPlan().skip(0), ProbeRequest{kProbeResidPost}).hidden;
  const CausalResult c = a.causal();
  for (int l = 1; l < cfg.n_layers; ++l) {
    const torch::Tensor d = H[size_t(l) + 1] - H[size_t(l)];
    const torch::Tensor ds = Hs[size_t(l) + 1] - Hs[size_t(l)];
    const double want =
        (ds - d).norm(2, -1).mean().item<double>() / d.norm(2, -1).mean().item<double>();
    EXPECT_TRUE(close(c.matrix[0][size_t(l)], want, 1e-5));
  }
  EXPECT_TRUE(close(c.score, (c.matrix[0][1] + c.matrix[0][2] + c.matrix[1][2]) / 3, 1e-12));

  const double base = lm_loss(m->forward(e.inputs).logits, e.targets).item<double>();
  const double swapped =
      lm_loss(m->forward(e.inputs, LayerPlan().swap(0, 2)).logits, e.targets).item<double>();
  const PermutationResult p = a.permutation();
  EXPECT_TRUE(close(p.matrix[0][2], std::abs(swapped - base) / base, 1e-4));

  const DepthSummaries s = a.summaries();
  for (int l = 0; l < cfg.n_layers; ++l) {
    const double cos = torch::nn::functional::cosine_similarity(
                           H[size_t(l)], H[size_t(l) + 1],
                           torch::nn::functional::CosineSimilarityFuncOptions().dim(-1))
                           .mean()
                           .item<double>();
    EXPECT_TRUE(close(s.block_influence[size_t(l)], 1 - cos, 1e-5));
  }
  for (int l = 0; l <= cfg.n_layers; ++l) {
    EXPECT_TRUE(
        close(s.residual_variance[size_t(l)], H[size_t(l)].var(-1).mean().item<double>(), 1e-5));
    const torch::Tensor logits = m->lm_head(m->model->norm(H[size_t(l)]));
    EXPECT_TRUE(
        close(s.logit_lens_loss[size_t(l)], lm_loss(logits, e.targets).item<double>(), 1e-5));
  }
  const torch::Tensor m0 = H[0].mean(torch::IntArrayRef{0, 1}),
                      m2 = H[2].mean(torch::IntArrayRef{0, 1});
  EXPECT_TRUE(close(s.layer_similarity[0][2],
                    (m0 * m2).sum().item<double>() / (m0.norm() * m2.norm()).item<double>(), 1e-5));
  const torch::Tensor cos02 = torch::nn::functional::cosine_similarity(
      H[0], H[2], torch::nn::functional::CosineSimilarityFuncOptions().dim(-1));
  EXPECT_TRUE(close(s.angular_distance[0][2],
                    (torch::acos(cos02.clamp(-1, 1)) / M_PI).mean().item<double>(), 1e-5));
  EXPECT_EQ(s.angular_distance[2][0], s.angular_distance[0][2]);
  // Removing the lowest-BI block first.
  const int first = s.removal_order[0];
  for (int l = 0; l < cfg.n_layers; ++l) {
    EXPECT_LE(s.block_influence[size_t(first)], s.block_influence[size_t(l)]);
  }
  const double removed1 =
      lm_loss(m->forward(e.inputs, LayerPlan().skip(first)).logits, e.targets).item<double>();
  EXPECT_TRUE(close(s.loss_after_removal[0], removed1, 1e-5));
}

TEST(Analyzer, UsefulnessCountsAgainstTau) {
  const ModelConfig cfg = test::tiny_config();
  Transformer m = test::tiny_model(cfg);
  Analyzer a(m, test::tiny_eval(cfg.vocab_size), with_batch(4));
  UsefulnessOptions o;
  o.tau = 0.0;
  const UsefulnessResult u0 = a.usefulness(o);
  int want = 0;
  for (double r : u0.ratio) want += r > 1.0;
  EXPECT_EQ(u0.useful_layers, want);
  EXPECT_DOUBLE_EQ(u0.score, double(want) / cfg.n_layers);
  o.tau = 1e9;
  EXPECT_EQ(a.usefulness(o).useful_layers, 0);
}

TEST(Analyzer, RejectsBadInput) {
  const ModelConfig cfg = test::tiny_config();
  Transformer m = test::tiny_model(cfg);
  EvalSet e = test::tiny_eval(cfg.vocab_size);
  EvalSet bad = eval_set_from_tensors(e.inputs + cfg.vocab_size, e.targets, "x");
  EXPECT_THROW(Analyzer(m, bad), Error);
  Analyzer a(m, e, with_batch(4));
  EXPECT_THROW(a.jacobians(0), Error);
  EXPECT_THROW(a.jacobians(7), Error);
  EXPECT_THROW(a.token_jacobians(0, 8), Error);
  EXPECT_THROW(a.evaluate(LayerPlan().skip(9)), Error);
  EXPECT_THROW(a.linear_fit(4), Error);
}

}  // namespace
}  // namespace dlab
