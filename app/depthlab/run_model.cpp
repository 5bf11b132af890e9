#include "run_model.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <stdexcept>

namespace dlab::gui {

void RunModel::clear() {
  name_.clear();
  dir_.clear();
  status_.clear();
  config_ = QJsonObject();
  series_.clear();
  order_.clear();
  analyses_.clear();
  emit reset();
}

void RunModel::setRunInfo(const QString& name, const QString& dir, const QJsonObject& config) {
  name_ = name;
  dir_ = dir;
  config_ = config;
  emit runInfoChanged();
}

void RunModel::setStatus(const QString& status) {
  if (status == status_) return;
  status_ = status;
  emit statusChanged(status);
}

void RunModel::declareSeries(const QString& name, int width, const QString& description) {
  if (width < 1)
    throw std::invalid_argument("series " + name.toStdString() + ": width must be >= 1");
  auto it = series_.find(name);
  if (it != series_.end() && it->second.width == width) return;
  Series s;
  s.name = name;
  s.width = width;
  s.description = description;
  if (it == series_.end()) order_.append(name);
  series_[name] = std::move(s);
  emit seriesDeclared(name);
}

void RunModel::appendRows(const QString& name, const int64_t* steps, const float* values,
                          int64_t n) {
  auto it = series_.find(name);
  if (it == series_.end()) {
    throw std::invalid_argument("append to undeclared series " + name.toStdString());
  }
  if (n <= 0) return;
  Series& s = it->second;
  const int64_t first = s.rows();
  s.steps.insert(s.steps.end(), steps, steps + n);
  s.values.insert(s.values.end(), values, values + n * s.width);
  emit rowsAppended(name, first, n);
}

void RunModel::append(const QString& name, int64_t step, const std::vector<float>& row) {
  const Series* s = series(name);
  if (s && int(row.size()) != s->width) {
    throw std::invalid_argument("series " + name.toStdString() + ": row of " +
                                std::to_string(row.size()) + " values, width is " +
                                std::to_string(s->width));
  }
  appendRows(name, &step, row.data(), 1);
}

void RunModel::setAnalysis(int64_t step, std::shared_ptr<const AnalysisFileData> data) {
  analyses_[step] = std::move(data);
  emit analysesChanged();
}

const RunModel::Series* RunModel::series(const QString& name) const {
  auto it = series_.find(name);
  return it == series_.end() ? nullptr : &it->second;
}

QString RunModel::configValue(const QString& dotted_key) const {
  const auto flat = config_flatten(config_);
  auto it = flat.find(dotted_key);
  return it == flat.end() ? QString() : it->second;
}

namespace {
void flatten_into(const QJsonValue& v, const QString& prefix, std::map<QString, QString>& out) {
  if (v.isObject()) {
    const QJsonObject o = v.toObject();
    for (auto it = o.begin(); it != o.end(); ++it) {
      flatten_into(it.value(), prefix.isEmpty() ? it.key() : prefix + "." + it.key(), out);
    }
  } else if (v.isArray()) {
    out[prefix] = QString::fromUtf8(QJsonDocument(v.toArray()).toJson(QJsonDocument::Compact));
  } else if (v.isDouble()) {
    out[prefix] = QString::number(v.toDouble(), 'g', 12);
  } else if (v.isBool()) {
    out[prefix] = v.toBool() ? "true" : "false";
  } else {
    out[prefix] = v.toString();
  }
}
}  // namespace

std::map<QString, QString> config_flatten(const QJsonObject& config) {
  std::map<QString, QString> out;
  flatten_into(config, QString(), out);
  return out;
}

}  // namespace dlab::gui
