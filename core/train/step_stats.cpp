#include "train/step_stats.h"

#include "catalog/series_catalog.h"
#include "kernels/fused_ops.h"
#include "metrics/layer_stats.h"

namespace dlab {

ProbeRequest step_probes(bool residual_stats, bool attention_stats) {
  ProbeRequest probes;
  if (residual_stats) {
    probes.mask |= kProbeResidPost | kProbeAttnOut | kProbeMlpOut | kProbeFinalNorm;
  }
  if (attention_stats) {
    probes.mask |= kProbeAttnStats;
    probes.attn_stats_eps = attention_sparsity_eps();
  }
  return probes;
}

MetricRows residual_rows(const ForwardOutput& out, bool fused) {
  const size_t L = out.attn_out.size();
  std::vector<float> resid(L), attn(L), mlp(L), k_tok(L), k_cmean(L), k_cmax(L), k_flat(L);
  float final_var = 0;
  if (fused) {
    // every probe of the step in one pass: h_{i+1}, attn_out, mlp_out per block, final norm
    std::vector<torch::Tensor> probes;
    std::vector<bool> kurtosis;
    for (size_t i = 0; i < L; ++i) {
      probes.insert(probes.end(), {out.hidden[i + 1], out.attn_out[i], out.mlp_out[i]});
      kurtosis.insert(kurtosis.end(), {true, false, false});
    }
    probes.push_back(out.final_norm);
    kurtosis.push_back(false);
    const std::vector<kernels::ResidualMoments> m = kernels::residual_moments(probes, kurtosis);
    for (size_t i = 0; i < L; ++i) {
      const kernels::ResidualMoments& h = m[3 * i];
      resid[i] = float(h.token_variance);
      attn[i] = float(m[3 * i + 1].token_variance);
      mlp[i] = float(m[3 * i + 2].token_variance);
      k_tok[i] = float(h.kurtosis_token);
      k_cmean[i] = float(h.kurtosis_channel_mean);
      k_cmax[i] = float(h.kurtosis_channel_max);
      k_flat[i] = float(h.kurtosis_flat);
    }
    final_var = float(m.back().token_variance);
  } else {
    // On CUDA (a DEPTHLAB_CUDA build) the variances come from the gpu/ kernel, one read each.
    auto variance = [](const torch::Tensor& t) {
      return row_stats_on_kernels(t) ? token_moments(t).variance : token_variance(t);
    };
    for (size_t i = 0; i < L; ++i) {
      const torch::Tensor& h = out.hidden[i + 1];  // h_{i+1}: output of block i, (B, T, d)
      resid[i] = float(variance(h));
      attn[i] = float(variance(out.attn_out[i]));
      mlp[i] = float(variance(out.mlp_out[i]));
      const KurtosisStats k = kurtosis_stats(h);
      k_tok[i] = float(k.token_mean);
      k_cmean[i] = float(k.channel_mean);
      k_cmax[i] = float(k.channel_max);
      k_flat[i] = float(k.flat);
    }
    final_var = float(variance(out.final_norm));
  }
  MetricRows rows = {
      {series::kResidVar, resid},
      {series::kResidVarFinalNorm, {final_var}},
      {series::kAttnOutVar, attn},
      {series::kMlpOutVar, mlp},
      {series::kKurtosisToken, k_tok},
      {series::kKurtosisChannelMean, k_cmean},
      {series::kKurtosisChannelMax, k_cmax},
      {series::kKurtosisFlat, k_flat},
  };
  if (!out.moe.empty()) {
    std::vector<float> fraction, lb, z;
    for (const MoeLayerStats& m : out.moe) {
      const torch::Tensor f = m.expert_fraction.detach().to(torch::kFloat64).contiguous();
      for (int64_t e = 0; e < f.numel(); ++e) fraction.push_back(float(f[e].item<double>()));
      lb.push_back(float(m.lb_loss.item<double>()));
      z.push_back(float(m.z_loss.item<double>()));
    }
    rows.push_back({series::kMoeExpertFraction, fraction});
    rows.push_back({series::kMoeLbLoss, lb});
    rows.push_back({series::kMoeZLoss, z});
  }
  return rows;
}

MetricRows attention_rows(const ForwardOutput& out, int64_t B, int64_t T) {
  // Sums reduced in the fused attention kernel, or the reference's probabilities.
  const bool from_sums = !out.attn_stat_sums.empty();
  const size_t L = from_sums ? out.attn_stat_sums.size() : out.attn_probs.size();
  const auto& eps = attention_sparsity_eps();
  std::vector<float> entropy(L), entropy_norm(L), head_entropy;
  std::vector<std::vector<float>> sparsity(eps.size(), std::vector<float>(L));
  std::vector<std::vector<float>> head_sparsity(eps.size());  // [eps] layer-major (L x H)
  for (size_t i = 0; i < L; ++i) {
    const AttentionStats a = from_sums ? attention_stats_from_sums(out.attn_stat_sums[i], B, T, eps)
                                       : attention_stats(out.attn_probs[i], eps);
    entropy[i] = float(a.entropy);
    entropy_norm[i] = float(a.entropy_normalized);
    for (size_t e = 0; e < eps.size(); ++e) sparsity[e][i] = float(a.sparsity[e]);
    for (size_t h = 0; h < a.head_entropy.size(); ++h) {
      head_entropy.push_back(float(a.head_entropy[h]));
      for (size_t e = 0; e < eps.size(); ++e) {
        head_sparsity[e].push_back(float(a.head_sparsity[h][e]));
      }
    }
  }
  MetricRows rows = {{series::kAttnEntropy, entropy},
                     {series::kAttnEntropyNorm, entropy_norm},
                     {series::kAttnEntropyHead, head_entropy}};
  for (size_t e = 0; e < eps.size(); ++e) {
    rows.push_back({series::attn_sparsity_name(eps[e]), sparsity[e]});
    rows.push_back({series::attn_sparsity_head_name(eps[e]), head_sparsity[e]});
  }
  return rows;
}

MetricRows weight_rows(Transformer& model, bool fused) {
  torch::NoGradGuard no_grad;
  const WeightSparsity w =
      weight_sparsity(model->state_dict_hf(), model->config().n_layers, weight_sparsity_eps(),
                      kWeightHistBins, kWeightHistLo, kWeightHistHi, fused);
  MetricRows rows;
  for (size_t e = 0; e < w.eps.size(); ++e) {
    std::vector<float> row;
    for (const auto& block : w.per_block) row.push_back(float(block[e]));
    row.push_back(float(w.overall[e]));
    rows.push_back({series::weight_sparsity_name(w.eps[e]), row});
  }
  rows.push_back(
      {series::kWeightLog10Hist, std::vector<float>(w.hist_counts.begin(), w.hist_counts.end())});
  return rows;
}

}  // namespace dlab
