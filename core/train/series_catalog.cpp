#include "train/series_catalog.h"

#include <cmath>
#include <cstdio>

namespace dlab {

const std::vector<double>& attention_sparsity_eps() {
  static const std::vector<double> eps = {1e-3, 1e-2, 1e-1};
  return eps;
}

const std::vector<double>& weight_sparsity_eps() {
  static const std::vector<double> eps = {1e-4, 1e-3, 1e-2};
  return eps;
}

std::string eps_suffix(double eps) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "1e%d", int(std::lround(std::log10(eps))));
  return buf;
}

std::vector<SeriesSpec> series_catalog(const Config& config) {
  const int L = config.model.n_layers;
  std::vector<SeriesSpec> s = {
      {"loss", 1, "training loss (mean token cross-entropy, nats) of the step's batch"},
      {"aux_loss", 1, "MoE auxiliary loss added to the training loss (0 for dense models)"},
      {"lr", 1, "learning rate used by the step"},
      {"grad_norm", 1, "global gradient norm before clipping"},
      {"tokens_per_s", 1, "training throughput of the step (tokens per second, all ranks)"},
      {"val_loss", 1, "held-out loss (nats)"},
      {"val_ppl", 1, "held-out perplexity exp(val_loss)"},
      {"resid_var", L, "residual variance of h_1..h_L (unbiased over channels, mean over tokens)"},
      {"resid_var_final_norm", 1, "variance of RMSNorm_f(h_L), the paper's 'last layer'"},
      {"attn_out_var", L, "variance of the attention branch output per block"},
      {"mlp_out_var", L, "variance of the FFN/MoE branch output per block"},
      {"kurtosis_token", L, "kurtosis of h_i per token across channels, mean over tokens"},
      {"kurtosis_channel_mean", L, "kurtosis of h_i per channel across tokens, mean over channels"},
      {"kurtosis_channel_max", L, "kurtosis of h_i per channel across tokens, max over channels"},
      {"kurtosis_flat", L, "kurtosis of all entries of h_i"},
      {"attn_entropy", L, "attention entropy (nats), mean over heads, queries i>=1, sequences"},
      {"attn_entropy_norm", L, "attention entropy divided by log(i+1)"},
  };
  for (double eps : attention_sparsity_eps()) {
    s.push_back({"attn_sparsity_" + eps_suffix(eps), L,
                 "fraction of causal attention probabilities below " + eps_suffix(eps)});
  }
  const int LH = L * config.model.n_heads;
  s.push_back({"attn_entropy_head", LH, "attention entropy per head (nats), layer-major (L x H)"});
  for (double eps : attention_sparsity_eps()) {
    s.push_back({"attn_sparsity_head_" + eps_suffix(eps), LH,
                 "per-head fraction of causal attention probabilities below " + eps_suffix(eps) +
                     ", layer-major (L x H)"});
  }
  for (double eps : weight_sparsity_eps()) {
    s.push_back({"weight_sparsity_" + eps_suffix(eps), L + 1,
                 "fraction of block weight entries with |w| < " + eps_suffix(eps) +
                     " (blocks 0..L-1, then overall)"});
  }
  s.push_back({"weight_log10_hist", kWeightHistBins,
               "histogram of log10|w| over block weights, 40 bins from -8 to 1"});
  if (config.model.is_moe()) {
    const int E = config.model.moe.n_experts;
    s.push_back(
        {"moe_expert_fraction", L * E, "fraction of routed slots per expert, layer-major (L x E)"});
    s.push_back({"moe_lb_loss", L, "load-balance loss per MoE layer"});
    s.push_back({"moe_z_loss", L, "router z-loss per MoE layer"});
  }
  return s;
}

}  // namespace dlab
