// The analysis jobs `dlab analyze` and `dlab serve` both run, so that the
// transport only decodes, dispatches and encodes: which analyses a list of
// names selects, a layer plan from its operations (linear fits included), and
// storing a result in its checkpoint's analysis file beside the analyses
// stored there before.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "analysis/analyzer.h"
#include "analysis/result.h"
#include "model/layer_plan.h"

namespace dlab {

// The analyses by name, in the order they run.
const std::vector<std::string>& analysis_names();  // causal, permutation, usefulness, jacobian,
                                                   // summaries

// The request that runs exactly `names` ("all" selects every analysis); the
// other fields keep their defaults. dlab::Error naming `field` (e.g.
// "--what" or "body.analyses") for an unknown or empty list.
AnalysisRequest analysis_request_for(const std::vector<std::string>& names,
                                     const std::string& field);

// One operation of a layer plan: "skip" (position), "swap" (i, j) or "linear"
// (position: the block replaced by its least-squares linear fit).
struct PlanOp {
  std::string op;
  int position = -1, i = -1, j = -1;
};

// The plan of `ops` for `analyzer`'s model, checked; `between` runs before
// each operation (a cancellation point: a plan of many fits takes a while).
LayerPlan plan_build(Analyzer& analyzer, const std::vector<PlanOp>& ops,
                     const std::function<void()>& between = {});

// Merges `r` into the analysis file of its checkpoint (analysis_path_for),
// keeping the analyses stored there before, and writes it. An unreadable
// older file is replaced; `replaced_because` (when given) gets why, else "".
// Returns the file's path.
std::filesystem::path analysis_store(const AnalysisResult& r,
                                     const std::filesystem::path& checkpoint, int64_t step,
                                     std::string* replaced_because = nullptr);

}  // namespace dlab
