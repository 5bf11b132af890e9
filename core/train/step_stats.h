// Turns the probes of one training forward pass into metric rows
// (METRICS.md §2), named as in catalog/series_catalog.h.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/probes.h"
#include "model/transformer.h"

namespace dlab {

using MetricRows = std::vector<std::pair<std::string, std::vector<float>>>;

// Probes needed for a step: residual statistics on stats steps, attention
// statistics (at attention_sparsity_eps()) on attention-stats steps.
ProbeRequest step_probes(bool residual_stats, bool attention_stats);

// Residual / branch variance, kurtosis, MoE routing rows from a forward pass
// run with kProbeResidPost | kProbeAttnOut | kProbeMlpOut | kProbeFinalNorm;
// fused: one pass per tensor (kernels::residual_moments), else the reference
// functions of metrics/residual_stats.h.
MetricRows residual_rows(const ForwardOutput& out, bool fused);
// Attention sparsity and entropy rows (needs kProbeAttnStats or kProbeAttnProbs)
// of a forward pass over B sequences of T tokens.
MetricRows attention_rows(const ForwardOutput& out, int64_t B, int64_t T);
// Weight sparsity per block and overall, and the log10|w| histogram (fused:
// one pass per tensor).
MetricRows weight_rows(Transformer& model, bool fused);

}  // namespace dlab
