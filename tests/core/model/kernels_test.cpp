// The whole model under the fused kernels against the reference modules
// (train.kernels = fused vs reference): loss, logits, every hidden state and
// every parameter gradient agree to 1e-5 relative in float32, for dense, GQA,
// MQA, MoE (with and without a shared expert) and LayerNorm-scaling models,
// over sequences that span several attention tiles. The float64 gradient
// checks of gradcheck_test.cpp run the fused kernels (the default).
#include <gtest/gtest.h>

#include "model/transformer.h"
#include "model_test_util.h"

namespace dlab {
namespace {

double rel_error(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor x = a.to(torch::kFloat64), y = b.to(torch::kFloat64);
  const double scale = y.abs().max().item<double>();
  if (scale == 0) return (x - y).abs().max().item<double>();
  return std::max((x - y).norm().item<double>() / y.norm().item<double>(),
                  (x - y).abs().max().item<double>() / scale);
}

struct Pass {
  torch::Tensor loss, logits;
  std::vector<torch::Tensor> hidden, grads;
};

Pass run(Transformer& model, Kernels kernels, const torch::Tensor& inputs,
         const torch::Tensor& targets) {
  ExecOptions exec;
  exec.kernels = kernels;
  model->set_exec(exec);
  for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
  ProbeRequest probes;
  probes.mask = kProbeResidPost;
  Pass r;
  const ForwardOutput out = model->forward_loss(inputs, targets, LayerPlan{}, probes);
  r.loss = out.loss.detach();
  r.hidden = out.hidden;
  (out.loss + out.aux_loss).backward();
  for (auto& [name, p] : model->state_dict_hf()) {
    r.grads.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  }
  torch::NoGradGuard no_grad;
  r.logits = model->forward(inputs).logits;
  return r;
}

void expect_equivalent(ModelConfig cfg, uint64_t seed) {
  Transformer model = test::make_model(cfg, seed, torch::kFloat32);
  test::randomize(model, 0.08, seed + 1);
  const torch::Tensor inputs = test::random_tokens(3, 70, cfg.vocab_size, seed + 2);
  const torch::Tensor targets = test::random_tokens(3, 70, cfg.vocab_size, seed + 3);
  const Pass fused = run(model, Kernels::Fused, inputs, targets);
  const Pass ref = run(model, Kernels::Reference, inputs, targets);
  EXPECT_LT(rel_error(fused.loss, ref.loss), 1e-5);
  EXPECT_LT(rel_error(fused.logits, ref.logits), 1e-5);
  for (size_t i = 0; i < ref.hidden.size(); ++i) {
    EXPECT_LT(rel_error(fused.hidden[i], ref.hidden[i]), 1e-5) << "h_" << i;
  }
  const auto names = model->state_dict_hf();
  for (size_t i = 0; i < ref.grads.size(); ++i) {
    EXPECT_LT(rel_error(fused.grads[i], ref.grads[i]), 1e-5) << names[i].first;
  }
}

ModelConfig wide(int n_kv_heads) {
  ModelConfig c = test::tiny_config(n_kv_heads);
  c.d_model = 64;  // d_h = 16: whole vectors of the kernels
  c.d_ff = 40;
  return c;
}

TEST(Kernels, FusedMatchesReferenceDense) { expect_equivalent(wide(4), 31); }
TEST(Kernels, FusedMatchesReferenceGqa) { expect_equivalent(wide(2), 32); }
TEST(Kernels, FusedMatchesReferenceMqa) { expect_equivalent(wide(1), 33); }
TEST(Kernels, FusedMatchesReferenceOddHeadSize) {
  ModelConfig c = test::tiny_config(2);
  c.d_model = 24;  // d_h = 6
  expect_equivalent(c, 34);
}
TEST(Kernels, FusedMatchesReferenceMoe) {
  ModelConfig c = wide(2);
  c.moe.n_experts = 4;
  expect_equivalent(c, 35);
}
TEST(Kernels, FusedMatchesReferenceMoeSharedExpertLayerNormScaling) {
  ModelConfig c = wide(4);
  c.moe.n_experts = 4;
  c.moe.n_shared_experts = 1;
  c.norm_scaling = "layernorm_scaling";
  c.init = "scaled";
  expect_equivalent(c, 36);
}

// The reference kernels' bf16 (LibTorch autocast) and the fused kernels' bf16
// compute the same function: both round the products' inputs to bf16.
TEST(Kernels, Bf16FusedAndReferenceAgreeToBf16Rounding) {
  ModelConfig cfg = wide(2);
  Transformer model = test::make_model(cfg, 37, torch::kFloat32);
  const torch::Tensor inputs = test::random_tokens(2, 40, cfg.vocab_size, 38);
  const torch::Tensor targets = test::random_tokens(2, 40, cfg.vocab_size, 39);
  torch::NoGradGuard no_grad;
  ExecOptions exec;
  exec.precision = kernels::Precision::Bf16;
  model->set_exec(exec);
  const double fused = model->forward_loss(inputs, targets).loss.item<double>();
  exec.kernels = Kernels::Reference;
  model->set_exec(exec);
  const double ref = model->forward_loss(inputs, targets).loss.item<double>();
  exec.precision = kernels::Precision::Fp32;
  model->set_exec(exec);
  const double fp32 = model->forward_loss(inputs, targets).loss.item<double>();
  EXPECT_NEAR(fused, ref, 1e-2 * fp32);
  EXPECT_NEAR(fused, fp32, 1e-2 * fp32);
  EXPECT_NE(fused, fp32);  // bf16 products do round
}

}  // namespace
}  // namespace dlab
