// Run comparison: overlays one series of several runs on one chart, each run
// coloured and labelled by a chosen config key (e.g. model.n_layers for a
// depth sweep). Runs load on worker threads (run_load_async).
#pragma once

#include <QComboBox>
#include <QListWidget>
#include <QWidget>
#include <map>
#include <vector>

#include "run_load.h"
#include "views/chart_widget.h"

namespace dlab::gui {

class ComparePanel : public QWidget {
  Q_OBJECT
 public:
  explicit ComparePanel(QWidget* parent = nullptr);

  // Loads the run in the background and adds it; emits runAdded (or loadFailed).
  void addRun(const QString& dir);
  void setConfigKey(const QString& key);
  QString configKey() const;  // what colours and labels the lines
  // Where "Add run..." starts looking (the runs folder).
  void setStartDirectory(const QString& dir);
  const QString& startDirectory() const { return start_dir_; }
  void setSeries(const QString& series);
  int runCount() const { return int(runs_.size()); }
  views::ChartWidget* chart() const { return chart_; }

 signals:
  void runAdded(const QString& dir);
  void loadFailed(const QString& message);

 private:
  struct Run {
    QString dir, name;
    std::map<QString, QString> config;  // flattened
    std::map<QString, SeriesData> series;
  };
  void redraw();
  void refreshKeys();

  std::vector<Run> runs_;
  QListWidget* list_;
  QComboBox *key_, *series_;
  QString start_dir_;
  views::ChartWidget* chart_;
};

}  // namespace dlab::gui
