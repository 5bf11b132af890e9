#include "analysis_arrays.h"

#include <QJsonArray>
#include <set>

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

AnalysisFileData analysis_from_json(const QJsonObject& result, int64_t step) {
  static const std::set<QString> counts = {
      "n_layers", "d_model", "samples", "seq_len", "first", "useful_layers", "jacobian_samples"};
  AnalysisFileData out;
  out.step = step;
  out.checkpoint = result.value("checkpoint").toString().toStdString();
  for (auto it = result.begin(); it != result.end(); ++it) {
    const std::string key = it.key().toStdString();
    const QJsonValue v = it.value();
    if (v.isString()) {
      out.texts[key] = v.toString().toStdString();
    } else if (v.isDouble()) {
      const double x = v.toDouble();
      if (counts.count(it.key())) out.ints[key] = int64_t(x);
      if (key == "tau") out.reals[key] = x;
      out.arrays.push_back(Array::from_f64(key, {}, &x));
    } else if (v.isArray()) {
      const QJsonArray a = v.toArray();
      std::vector<double> values;
      bool numbers = true, rows = !a.isEmpty();
      qsizetype width = -1;
      for (const QJsonValue& e : a) {
        if (e.isDouble()) {
          rows = false;
          values.push_back(e.toDouble());
        } else if (e.isArray() && rows) {
          const QJsonArray r = e.toArray();
          if (width >= 0 && r.size() != width) numbers = false;  // ragged: left out
          width = r.size();
          for (const QJsonValue& x : r) {
            if (!x.isDouble()) numbers = false;
            values.push_back(x.toDouble());
          }
        } else {
          numbers = false;  // null (a value that was not finite), objects: left out
        }
      }
      if (!numbers || values.empty()) continue;
      if (rows && width > 0) {
        out.arrays.push_back(
            Array::from_f64(key, {int64_t(a.size()), int64_t(width)}, values.data()));
      } else if (!rows) {
        out.arrays.push_back(Array::from_f64(key, {int64_t(values.size())}, values.data()));
      }
    }
  }
  return out;
}

}  // namespace dlab::gui
