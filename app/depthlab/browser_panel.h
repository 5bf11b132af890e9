// Series browser: every series of the run (the dashboard shows a selection),
// one chart per pick; per-layer series draw one line per layer coloured by
// depth, histogram series (series_histogram: weight_log10_hist) a bin x step
// heatmap. Also the run's info: status, config (flattened), analysis files.
#pragma once

#include <QListWidget>
#include <QPlainTextEdit>
#include <QSpinBox>
#include <QStackedWidget>
#include <QTimer>
#include <QWidget>

#include "run_model.h"
#include "views/chart_widget.h"
#include "views/heatmap_widget.h"

namespace dlab::gui {

class BrowserPanel : public QWidget {
  Q_OBJECT
 public:
  explicit BrowserPanel(RunModel* model, QWidget* parent = nullptr);
  void showSeries(const QString& name);
  views::ChartWidget* chart() const { return chart_; }
  // Shown instead of the chart for a histogram series.
  views::HeatmapWidget* histogram() const { return histogram_; }
  bool showsHistogram() const { return stack_->currentWidget() == histogram_page_; }
  // The layer a per-layer histogram series shows (spin_histogram_layer).
  void setHistogramGroup(int group) { histogram_group_->setValue(group); }

 private:
  void refreshList();
  void refreshInfo();
  void onRowsAppended(const QString& name, int64_t first, int64_t count);
  void fillHistogram();

  RunModel* model_;
  QListWidget* list_;
  QPlainTextEdit* info_;
  views::ChartWidget* chart_;
  views::HeatmapWidget* histogram_;
  QSpinBox* histogram_group_;  // which layer of a per-layer histogram series
  QWidget* histogram_page_;    // the group picker over the heatmap
  QStackedWidget* stack_;
  QTimer histogram_timer_;  // coalesces refills of the histogram as rows stream in
  QString shown_;
  bool user_picked_ = false;
};

}  // namespace dlab::gui
