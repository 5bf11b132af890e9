// The metric series a run writes (names and widths), derived from its config.
// Names and meanings are documented in docs/metrics.md.
#pragma once

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

// "1e-3" for 0.001: the suffix used in series names such as attn_sparsity_1e-3.
std::string eps_suffix(double eps);

std::vector<SeriesSpec> series_catalog(const Config& config);

}  // namespace dlab
