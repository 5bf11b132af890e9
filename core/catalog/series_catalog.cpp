#include "catalog/series_catalog.h"

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

std::optional<HistogramAxis> series_histogram(const std::string& name) {
  if (name == series::kWeightLog10Hist)
    return HistogramAxis{"log10|w|", kWeightHistLo, kWeightHistHi, kWeightHistBins};
  return std::nullopt;
}

namespace series {

std::string attn_sparsity_name(double eps) { return "attn_sparsity_" + eps_suffix(eps); }
std::string attn_sparsity_head_name(double eps) { return "attn_sparsity_head_" + eps_suffix(eps); }
std::string weight_sparsity_name(double eps) { return "weight_sparsity_" + eps_suffix(eps); }

const std::vector<std::string>& kurtosis_names() {
  static const std::vector<std::string> names = {kKurtosisToken, kKurtosisChannelMean,
                                                 kKurtosisChannelMax, kKurtosisFlat};
  return names;
}

}  // namespace series

std::vector<SeriesSpec> series_catalog(const Config& config) {
  using namespace series;
  const int L = config.model.n_layers;
  std::vector<SeriesSpec> s = {
      {kLoss, 1, "training loss (mean token cross-entropy, nats) of the step's batch"},
      {kAuxLoss, 1, "MoE auxiliary loss added to the training loss (0 for dense models)"},
      {kLr, 1, "learning rate used by the step"},
      {kGradNorm, 1, "global gradient norm before clipping"},
      {kTokensPerS, 1, "training throughput of the step (tokens per second, all ranks)"},
      {kValLoss, 1, "held-out loss (nats)"},
      {kValPpl, 1, "held-out perplexity exp(val_loss)"},
      {kResidVar, L, "residual variance of h_1..h_L (unbiased over channels, mean over tokens)"},
      {kResidVarFinalNorm, 1, "variance of RMSNorm_f(h_L), the paper's 'last layer'"},
      {kAttnOutVar, L, "variance of the attention branch output per block"},
      {kMlpOutVar, L, "variance of the FFN/MoE branch output per block"},
      {kKurtosisToken, L, "kurtosis of h_i per token across channels, mean over tokens"},
      {kKurtosisChannelMean, L, "kurtosis of h_i per channel across tokens, mean over channels"},
      {kKurtosisChannelMax, L, "kurtosis of h_i per channel across tokens, max over channels"},
      {kKurtosisFlat, L, "kurtosis of all entries of h_i"},
      {kAttnEntropy, L, "attention entropy (nats), mean over heads, queries i>=1, sequences"},
      {kAttnEntropyNorm, L, "attention entropy divided by log(i+1)"},
  };
  for (double eps : attention_sparsity_eps()) {
    s.push_back({attn_sparsity_name(eps), L,
                 "fraction of causal attention probabilities below " + eps_suffix(eps)});
  }
  const int LH = L * config.model.n_heads;
  s.push_back({kAttnEntropyHead, LH, "attention entropy per head (nats), layer-major (L x H)"});
  for (double eps : attention_sparsity_eps()) {
    s.push_back({attn_sparsity_head_name(eps), LH,
                 "per-head fraction of causal attention probabilities below " + eps_suffix(eps) +
                     ", layer-major (L x H)"});
  }
  for (double eps : weight_sparsity_eps()) {
    s.push_back({weight_sparsity_name(eps), L + 1,
                 "fraction of block weight entries with |w| < " + eps_suffix(eps) +
                     " (blocks 0..L-1, then overall)"});
  }
  s.push_back({kWeightLog10Hist, kWeightHistBins,
               "histogram of log10|w| over block weights, 40 bins from -8 to 1"});
  if (config.model.is_moe()) {
    const int E = config.model.moe.n_experts;
    s.push_back(
        {kMoeExpertFraction, L * E, "fraction of routed slots per expert, layer-major (L x E)"});
    s.push_back({kMoeLbLoss, L, "load-balance loss per MoE layer"});
    s.push_back({kMoeZLoss, L, "router z-loss per MoE layer"});
  }
  return s;
}

}  // namespace dlab
