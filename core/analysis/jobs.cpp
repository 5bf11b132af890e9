#include "analysis/jobs.h"

#include <algorithm>
#include <set>
#include <system_error>

#include "analysis/source.h"
#include "common/error.h"
#include "store/analysis_file.h"

namespace dlab {

const std::vector<std::string>& analysis_names() {
  static const std::vector<std::string> names = {"causal", "permutation", "usefulness", "jacobian",
                                                 "summaries"};
  return names;
}

AnalysisRequest analysis_request_for(const std::vector<std::string>& names,
                                     const std::string& field) {
  std::set<std::string> chosen;
  for (const std::string& name : names) {
    const auto& all = analysis_names();
    if (name == "all") {
      chosen.insert(all.begin(), all.end());
    } else if (std::find(all.begin(), all.end(), name) != all.end()) {
      chosen.insert(name);
    } else {
      throw Error(field + ": unknown analysis '" + name +
                  "'; allowed: causal, permutation, usefulness, jacobian, summaries, all");
    }
  }
  if (chosen.empty()) throw Error(field + " names no analysis");
  AnalysisRequest r;
  r.causal = chosen.count("causal");
  r.permutation = chosen.count("permutation");
  r.usefulness = chosen.count("usefulness");
  r.jacobian = chosen.count("jacobian");
  r.summaries = chosen.count("summaries");
  return r;
}

LayerPlan plan_build(Analyzer& analyzer, const std::vector<PlanOp>& ops,
                     const std::function<void()>& between) {
  LayerPlan plan;
  for (const PlanOp& op : ops) {
    if (between) between();
    if (op.op == "skip") {
      plan.skip(op.position);
    } else if (op.op == "swap") {
      plan.swap(op.i, op.j);
    } else if (op.op == "linear") {
      const LinearFit fit = analyzer.linear_fit(op.position);
      plan.linear(op.position,
                  LinearMap{fit.weight.to(torch::kFloat32), fit.bias.to(torch::kFloat32)});
    } else {
      throw Error("plan operation '" + op.op + "' unknown; skip, swap or linear");
    }
  }
  plan.check(analyzer.n_layers());
  return plan;
}

std::filesystem::path analysis_store(const AnalysisResult& r,
                                     const std::filesystem::path& checkpoint, int64_t step,
                                     std::string* replaced_because) {
  if (replaced_because) replaced_because->clear();
  const std::filesystem::path stored = analysis_path_for(checkpoint, step);
  AnalysisResult merged = r;
  std::error_code ec;
  if (std::filesystem::exists(stored, ec)) {
    try {
      analysis_merge(merged, analysis_from_file(analysis_file_read(stored)));
    } catch (const Error& e) {
      if (replaced_because) *replaced_because = e.what();  // unreadable: replaced
    }
  }
  analysis_file_write(stored, analysis_to_file(merged));
  return stored;
}

}  // namespace dlab
