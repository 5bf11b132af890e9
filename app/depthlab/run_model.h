// The data of one run as the GUI holds it: the config, the status, every
// metric series (steps + rows of `width` values: scalars, per-layer blocks)
// and the analysis results per checkpoint step.
//
// One append API for every source: the offline reader (run_load.h) fills it
// from run.h5, and the worker client feeds live telemetry through the same
// declareSeries() / appendRows(), so every panel (dashboard, browser) updates
// the same way offline and live. Lives on the GUI thread;
// producers on other threads post to it (never block the GUI thread).
#pragma once

#include <QJsonObject>
#include <QObject>
#include <QString>
#include <QStringList>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "store/analysis_file.h"

namespace dlab::gui {

class RunModel : public QObject {
  Q_OBJECT
 public:
  struct Series {
    QString name, description;
    int width = 1;
    std::vector<int64_t> steps;  // [n]
    std::vector<float> values;   // [n * width], row-major
    int64_t rows() const { return int64_t(steps.size()); }
    float at(int64_t row, int col) const { return values[size_t(row * width + col)]; }
  };

  using QObject::QObject;

  // Forgets everything (a new run is opened); emits reset().
  void clear();
  void setRunInfo(const QString& name, const QString& dir, const QJsonObject& config);
  void setStatus(const QString& status);
  // Declares a series (idempotent for the same width; a new width replaces it).
  void declareSeries(const QString& name, int width, const QString& description = {});
  // Appends n rows: steps [n], values [n * width]. Emits rowsAppended once.
  void appendRows(const QString& name, const int64_t* steps, const float* values, int64_t n);
  void append(const QString& name, int64_t step, const std::vector<float>& row);
  void setAnalysis(int64_t step, std::shared_ptr<const AnalysisFileData> data);

  const Series* series(const QString& name) const;
  QStringList seriesNames() const { return order_; }
  const QString& name() const { return name_; }
  const QString& dir() const { return dir_; }
  const QString& status() const { return status_; }
  const QJsonObject& config() const { return config_; }
  // A dotted config key ("model.n_layers") as text; empty when absent.
  QString configValue(const QString& dotted_key) const;
  const std::map<int64_t, std::shared_ptr<const AnalysisFileData>>& analyses() const {
    return analyses_;
  }

 signals:
  void reset();
  void runInfoChanged();
  void statusChanged(const QString& status);
  void seriesDeclared(const QString& name);
  void rowsAppended(const QString& name, int64_t first_row, int64_t count);
  void analysesChanged();

 private:
  QString name_, dir_, status_;
  QJsonObject config_;
  std::map<QString, Series> series_;
  QStringList order_;
  std::map<int64_t, std::shared_ptr<const AnalysisFileData>> analyses_;
};

// Flattens a JSON object to dotted keys ("model.n_layers") with text values.
std::map<QString, QString> config_flatten(const QJsonObject& config);

}  // namespace dlab::gui
