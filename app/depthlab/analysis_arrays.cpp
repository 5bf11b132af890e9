#include "analysis_arrays.h"

namespace dlab::gui {

std::optional<AnalysisArray> analysis_array(const AnalysisFileData& data, const std::string& name) {
  for (const Array& a : data.arrays) {
    if (a.name != name) continue;
    AnalysisArray out;
    out.shape = a.shape;
    const int64_t n = a.numel();
    out.values.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) {
      switch (a.dtype) {
        case DType::F32:
          out.values[size_t(i)] = a.f32()[i];
          break;
        case DType::F64:
          out.values[size_t(i)] = a.f64()[i];
          break;
        case DType::I64:
          out.values[size_t(i)] = double(a.i64()[i]);
          break;
        default:
          out.values[size_t(i)] = double(a.u8()[i]);
          break;
      }
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace dlab::gui
