// Typed access to the arrays of an analysis file (docs/file-formats.md), read
// from the file or received from a remote worker (store/analysis_codec.h):
// every numeric dataset as float64 values with its shape.
#pragma once

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

}  // namespace dlab::gui
