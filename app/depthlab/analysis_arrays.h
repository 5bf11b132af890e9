// Typed access to the arrays of an analysis file (docs/file-formats.md):
// every numeric dataset as float64 values with its shape.
#pragma once

#include <QJsonObject>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/analysis_file.h"

namespace dlab::gui {

struct AnalysisArray {
  std::vector<int64_t> shape;  // {} scalar, {L}, {L, L}, {d, d}
  std::vector<double> values;  // row-major
};

// nullopt when the analysis did not store `name` (that analysis was not run).
std::optional<AnalysisArray> analysis_array(const AnalysisFileData& data, const std::string& name);

// The analysis of a worker's `analysis_result` (the JSON of `dlab analyze
// --json`, docs/analysis.md) in the shape of an analysis file, for a worker
// whose stored file this machine cannot read: numbers become scalar arrays,
// lists vectors, lists of equal-length lists matrices; n_layers, d_model and
// the other counts also go to `ints`, tau to `reals`, strings to `texts`.
// The JSON has no Jacobian matrices (the `jacobian` request fetches one).
AnalysisFileData analysis_from_json(const QJsonObject& result, int64_t step);

}  // namespace dlab::gui
