// Small models and evaluation sets for the analysis tests.
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "analysis/eval_set.h"
#include "common/config.h"
#include "model/transformer.h"
#include "test_dir.h"

namespace dlab::test {

inline ModelConfig tiny_config(int n_layers = 4) {
  ModelConfig c;
  c.n_layers = n_layers;
  c.d_model = 16;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.d_ff = 24;
  c.vocab_size = 40;
  return c;
}

// A seeded model whose 2-D weights are scaled up from the 0.02 init so that
// every block changes the residual stream noticeably (otherwise every score is
// close to zero and a test could pass by accident).
inline Transformer tiny_model(const ModelConfig& cfg, uint64_t seed = 7, double gain = 8.0) {
  torch::manual_seed(seed);
  Transformer m(cfg);
  torch::NoGradGuard no_grad;
  for (auto& p : m->parameters()) {
    if (p.dim() == 2) p.mul_(gain);
  }
  // Norm gains away from 1 so that a swap is visible in them too.
  for (auto& item : m->named_parameters()) {
    if (item.key().find("layernorm") != std::string::npos) {
      item.value().uniform_(0.5, 1.5);
    }
  }
  return m;
}

// N random windows of T tokens from a seeded generator.
inline EvalSet tiny_eval(int vocab, int64_t N = 6, int64_t T = 8, uint64_t seed = 3) {
  torch::manual_seed(seed);
  const torch::Tensor tokens = torch::randint(vocab, {N, T + 1}, torch::kInt64);
  return eval_set_from_tensors(tokens.slice(1, 0, T).contiguous(), tokens.slice(1, 1).contiguous(),
                               "random test tokens");
}

// Zeroes the output projections of block `i`: the block becomes the identity.
inline void make_identity(Transformer& m, int i) {
  torch::NoGradGuard no_grad;
  auto& block = m->model->blocks[size_t(i)];
  block->self_attn->o_proj->weight.zero_();
  if (block->ffn) {
    block->ffn->down_proj->weight.zero_();
  }
}

inline bool close(double a, double b, double rel = 1e-6, double abs = 1e-9) {
  return std::abs(a - b) <= abs + rel * std::max(std::abs(a), std::abs(b));
}

inline std::filesystem::path test_tmp_dir(const std::string& name) {
  return test_dir_fresh("analysis", name);
}

}  // namespace dlab::test
