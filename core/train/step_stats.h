// Turns the probes of one training forward pass into metric rows
// (METRICS.md §2), named as in series_catalog.h.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/probes.h"
#include "model/transformer.h"

namespace dlab {

using MetricRows = std::vector<std::pair<std::string, std::vector<float>>>;

// Probe mask needed for a step: residual statistics on stats steps, attention
// probabilities on attention-stats steps.
uint32_t step_probe_mask(bool residual_stats, bool attention_stats);

// Residual / branch variance, kurtosis, MoE routing rows from a forward pass
// run with kProbeResidPost | kProbeAttnOut | kProbeMlpOut | kProbeFinalNorm.
MetricRows residual_rows(const ForwardOutput& out);
// Attention sparsity and entropy rows (needs kProbeAttnProbs).
MetricRows attention_rows(const ForwardOutput& out);
// Weight sparsity per block and overall, and the log10|w| histogram.
MetricRows weight_rows(Transformer& model);

}  // namespace dlab
