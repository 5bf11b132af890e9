// Shared helpers of the model tests: tiny configurations and reproducible
// random weights/tokens.
#pragma once

#include <torch/torch.h>

#include <string>

#include "common/config.h"
#include "model/transformer.h"

namespace dlab::test {

// L=2, d=16, H=4 (d_h=4), V=23: small enough for finite differences over every weight.
inline ModelConfig tiny_config(int n_kv_heads = 4, int n_experts = 0, int n_shared = 0,
                               int top_k = 2) {
  ModelConfig c;
  c.n_layers = 2;
  c.d_model = 16;
  c.n_heads = 4;
  c.n_kv_heads = n_kv_heads;
  c.d_ff = 12;
  c.vocab_size = 23;
  c.moe.n_experts = n_experts;
  c.moe.top_k = top_k;
  c.moe.d_expert = 8;
  c.moe.n_shared_experts = n_shared;
  return c;
}

// Overwrites every weight with N(0, std²) and every norm gain with 1 + N(0, 0.1²),
// so that tests see non-trivial gains and gradients that are not tiny.
inline void randomize(Transformer& model, double std, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (auto& [name, p] : model->state_dict_hf()) {
    if (p.dim() == 1) {
      p.copy_(1.0 + 0.1 * torch::randn(p.sizes(), p.options()));
    } else {
      p.copy_(std * torch::randn(p.sizes(), p.options()));
    }
  }
}

inline torch::Tensor random_tokens(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randint(V, {B, T}, torch::kInt64);
}

inline Transformer make_model(const ModelConfig& cfg, uint64_t seed,
                              torch::ScalarType dtype = torch::kFloat64) {
  torch::manual_seed(seed);
  Transformer m(cfg);
  m->to(dtype);
  return m;
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

}  // namespace dlab::test
