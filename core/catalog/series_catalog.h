// The metric series a run writes (names and widths), derived from its config,
// and every series name in one place: the trainer writes under these names and
// the GUI binds its charts by them. Names and meanings: docs/metrics.md.
// Torch-free (the GUI links it).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "store/run_file.h"

namespace dlab {

// Epsilons of METRICS.md §2.
const std::vector<double>& attention_sparsity_eps();  // {1e-3, 1e-2, 1e-1}
const std::vector<double>& weight_sparsity_eps();     // {1e-4, 1e-3, 1e-2}
constexpr int kWeightHistBins = 40;
constexpr double kWeightHistLo = -8.0;  // log10 |w| range of the histogram
constexpr double kWeightHistHi = 1.0;

// A series whose rows are histograms: `bins` counts of `quantity` over equal
// bins spanning [lo, hi] (the first bin also holds what is below lo, the last
// what is at or above hi). Views draw such a series as bins x step.
struct HistogramAxis {
  std::string quantity;  // what is binned, e.g. "log10|w|"
  double lo = 0, hi = 1;
  int bins = 1;
};
// The axis of histogram series `name` (weight_log10_hist), or nullopt for
// every other series. The one place that says which series are histograms.
std::optional<HistogramAxis> series_histogram(const std::string& name);

// "1e-3" for 0.001: the suffix used in series names such as attn_sparsity_1e-3.
std::string eps_suffix(double eps);

std::vector<SeriesSpec> series_catalog(const Config& config);

// The names. Per-step scalars, then per-block rows (width L unless noted).
namespace series {
inline constexpr const char* kLoss = "loss";
inline constexpr const char* kAuxLoss = "aux_loss";
inline constexpr const char* kLr = "lr";
inline constexpr const char* kGradNorm = "grad_norm";
inline constexpr const char* kTokensPerS = "tokens_per_s";
inline constexpr const char* kValLoss = "val_loss";
inline constexpr const char* kValPpl = "val_ppl";
inline constexpr const char* kResidVar = "resid_var";
inline constexpr const char* kResidVarFinalNorm = "resid_var_final_norm";  // width 1
inline constexpr const char* kAttnOutVar = "attn_out_var";
inline constexpr const char* kMlpOutVar = "mlp_out_var";
inline constexpr const char* kKurtosisToken = "kurtosis_token";
inline constexpr const char* kKurtosisChannelMean = "kurtosis_channel_mean";
inline constexpr const char* kKurtosisChannelMax = "kurtosis_channel_max";
inline constexpr const char* kKurtosisFlat = "kurtosis_flat";
inline constexpr const char* kAttnEntropy = "attn_entropy";
inline constexpr const char* kAttnEntropyNorm = "attn_entropy_norm";
inline constexpr const char* kAttnEntropyHead = "attn_entropy_head";      // L x H
inline constexpr const char* kWeightLog10Hist = "weight_log10_hist";      // kWeightHistBins
inline constexpr const char* kMoeExpertFraction = "moe_expert_fraction";  // L x E
inline constexpr const char* kMoeLbLoss = "moe_lb_loss";
inline constexpr const char* kMoeZLoss = "moe_z_loss";

// "attn_sparsity_1e-3", "attn_sparsity_head_1e-3" (L x H), "weight_sparsity_1e-4" (L + 1).
std::string attn_sparsity_name(double eps);
std::string attn_sparsity_head_name(double eps);
std::string weight_sparsity_name(double eps);

// The four kurtosis series, in catalog order.
const std::vector<std::string>& kurtosis_names();
}  // namespace series

}  // namespace dlab
