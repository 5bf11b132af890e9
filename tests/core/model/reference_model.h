// An independent, deliberately plain re-implementation of METRICS.md §1 used
// as the oracle of the model tests: per-head and per-token loops, hand-written
// RoPE, softmax, SiLU and top-k, reading the weights by their HF names. It
// shares no code with core/model.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "common/config.h"

namespace dlab::ref {

using Weights = std::map<std::string, torch::Tensor>;
using torch::Tensor;

inline Tensor rms_norm(const Tensor& x, const Tensor& w, double eps) {  // (..., d)
  return x / torch::sqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps) * w;
}

inline Tensor silu_by_hand(const Tensor& x) { return x / (1.0 + torch::exp(-x)); }

inline Tensor swiglu(const Tensor& x, const Weights& w, const std::string& prefix) {
  const Tensor g = torch::matmul(x, w.at(prefix + "gate_proj.weight").t());
  const Tensor u = torch::matmul(x, w.at(prefix + "up_proj.weight").t());
  return torch::matmul(silu_by_hand(g) * u, w.at(prefix + "down_proj.weight").t());
}

// Rotates pairs (k, k + d_h/2) of x (T, d_h) by angle t * theta^(-2k/d_h).
inline Tensor rope(const Tensor& x, double theta) {
  const int64_t T = x.size(0), dh = x.size(1), half = dh / 2;
  Tensor y = torch::empty_like(x);
  auto xa = x.accessor<double, 2>();
  auto ya = y.accessor<double, 2>();
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t k = 0; k < half; ++k) {
      const double angle = double(t) * std::pow(theta, -2.0 * double(k) / double(dh));
      const double c = std::cos(angle), s = std::sin(angle);
      ya[t][k] = xa[t][k] * c - xa[t][k + half] * s;
      ya[t][k + half] = xa[t][k + half] * c + xa[t][k] * s;
    }
  }
  return y;
}

// Causal attention of one sequence x (T, d); query head h reads KV head h / (H/G).
inline Tensor attention(const Tensor& x, const Weights& w, const std::string& prefix,
                        const ModelConfig& cfg, std::vector<Tensor>* probs = nullptr) {
  const int64_t T = x.size(0), H = cfg.n_heads, G = cfg.n_kv_heads, dh = cfg.d_model / H;
  const Tensor Wq = w.at(prefix + "q_proj.weight"), Wk = w.at(prefix + "k_proj.weight");
  const Tensor Wv = w.at(prefix + "v_proj.weight"), Wo = w.at(prefix + "o_proj.weight");
  Tensor heads = torch::zeros({T, H * dh}, x.options());
  for (int64_t h = 0; h < H; ++h) {
    const int64_t g = h / (H / G);
    const Tensor q = rope(torch::matmul(x, Wq.slice(0, h * dh, (h + 1) * dh).t()), cfg.rope_theta);
    const Tensor k = rope(torch::matmul(x, Wk.slice(0, g * dh, (g + 1) * dh).t()), cfg.rope_theta);
    const Tensor v = torch::matmul(x, Wv.slice(0, g * dh, (g + 1) * dh).t());
    Tensor p_head = torch::zeros({T, T}, x.options());
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> score(static_cast<size_t>(t) + 1);
      for (int64_t s = 0; s <= t; ++s) {
        score[size_t(s)] = torch::dot(q[t], k[s]).item<double>() / std::sqrt(double(dh));
      }
      const double m = *std::max_element(score.begin(), score.end());
      double z = 0;
      for (double& e : score) z += (e = std::exp(e - m));
      Tensor o = torch::zeros({dh}, x.options());
      for (int64_t s = 0; s <= t; ++s) {
        p_head[t][s] = score[size_t(s)] / z;
        o = o + (score[size_t(s)] / z) * v[s];
      }
      heads[t].slice(0, h * dh, (h + 1) * dh).copy_(o);
    }
    if (probs) probs->push_back(p_head);
  }
  return torch::matmul(heads, Wo.t());
}

struct MoeAux {
  double lb = 0, z = 0;
};

// Top-k MoE over the tokens x (N, d), one token at a time.
inline Tensor moe(const Tensor& x, const Weights& w, const std::string& prefix,
                  const ModelConfig& cfg, MoeAux* aux) {
  const int64_t N = x.size(0), E = cfg.moe.n_experts, k = cfg.moe.top_k;
  const Tensor logits = torch::matmul(x, w.at(prefix + "gate.weight").t());  // (N, E)
  Tensor y = torch::zeros_like(x);
  std::vector<double> count(static_cast<size_t>(E), 0.0), p_mean(static_cast<size_t>(E), 0.0);
  double z = 0;
  for (int64_t t = 0; t < N; ++t) {
    std::vector<double> r(static_cast<size_t>(E)), p(static_cast<size_t>(E));
    for (int64_t e = 0; e < E; ++e) r[size_t(e)] = logits[t][e].item<double>();
    const double m = *std::max_element(r.begin(), r.end());
    double sum = 0;
    for (int64_t e = 0; e < E; ++e) sum += (p[size_t(e)] = std::exp(r[size_t(e)] - m));
    for (double& v : p) v /= sum;
    const double lse = m + std::log(sum);
    z += lse * lse / double(N);
    std::vector<int64_t> order(static_cast<size_t>(E));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](int64_t a, int64_t b) { return p[size_t(a)] > p[size_t(b)]; });
    Tensor yt = torch::zeros({x.size(1)}, x.options());
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = order[size_t(j)];
      yt = yt + p[size_t(e)] * swiglu(x[t], w, prefix + "experts." + std::to_string(e) + ".");
      count[size_t(e)] += 1;
    }
    if (cfg.moe.n_shared_experts > 0) {
      yt = swiglu(x[t], w, prefix + "shared_expert.") / double(k + 1) +
           yt * (double(k) / double(k + 1));
    }
    y[t].copy_(yt);
    for (int64_t e = 0; e < E; ++e) p_mean[size_t(e)] += p[size_t(e)] / double(N);
  }
  if (aux) {
    aux->lb = 0;
    for (int64_t e = 0; e < E; ++e) {
      aux->lb += double(E) * (count[size_t(e)] / double(k * N)) * p_mean[size_t(e)];
    }
    aux->z = z;
  }
  return y;
}

// One block on a batch h (B, T, d) with LayerNorm-scaling factor `scale`.
inline Tensor block(const Tensor& h, const Weights& w, int blk, double scale,
                    const ModelConfig& cfg, MoeAux* aux = nullptr) {
  const std::string p = "model.layers." + std::to_string(blk) + ".";
  const int64_t B = h.size(0), T = h.size(1), d = h.size(2);
  Tensor u = h.clone();
  for (int64_t b = 0; b < B; ++b) {
    const Tensor x = rms_norm(h[b], w.at(p + "input_layernorm.weight"), cfg.norm_eps) * scale;
    u[b] += attention(x, w, p + "self_attn.", cfg);
  }
  const Tensor x = rms_norm(u, w.at(p + "post_attention_layernorm.weight"), cfg.norm_eps) * scale;
  if (cfg.is_moe()) return u + moe(x.reshape({B * T, d}), w, p + "mlp.", cfg, aux).view({B, T, d});
  return u + swiglu(x, w, p + "mlp.");
}

struct Output {
  Tensor logits;
  std::vector<Tensor> hidden;
  double aux = 0;
};

inline Output forward(const Tensor& tokens, const Weights& w, const ModelConfig& cfg) {
  Output out;
  Tensor h = w.at("model.embed_tokens.weight").index_select(0, tokens.reshape({-1}));
  h = h.view({tokens.size(0), tokens.size(1), cfg.d_model});
  out.hidden.push_back(h);
  double lb = 0, z = 0;
  for (int i = 0; i < cfg.n_layers; ++i) {
    const double s = cfg.norm_scaling == "layernorm_scaling" ? 1.0 / std::sqrt(i + 1.0) : 1.0;
    MoeAux aux;
    h = block(h, w, i, s, cfg, &aux);
    lb += aux.lb / cfg.n_layers;
    z += aux.z / cfg.n_layers;
    out.hidden.push_back(h);
  }
  if (cfg.is_moe()) out.aux = cfg.moe.lb_loss_weight * lb + cfg.moe.z_loss_weight * z;
  const Tensor normed = rms_norm(h, w.at("model.norm.weight"), cfg.norm_eps);
  out.logits = torch::matmul(normed, w.at("lm_head.weight").t());
  return out;
}

template <class Model>
Weights weights_of(Model& m) {
  Weights w;
  for (auto& [name, t] : m->state_dict_hf()) w[name] = t.detach().clone();
  return w;
}

}  // namespace dlab::ref
