// Series browser: every series of the run (the dashboard shows a selection),
// one chart per pick; per-layer series draw one line per layer coloured by
// depth. Also the run's info: status, config (flattened), analysis files.
#pragma once

#include <QListWidget>
#include <QPlainTextEdit>
#include <QWidget>

#include "run_model.h"
#include "views/chart_widget.h"

namespace dlab::gui {

class BrowserPanel : public QWidget {
  Q_OBJECT
 public:
  explicit BrowserPanel(RunModel* model, QWidget* parent = nullptr);
  void showSeries(const QString& name);
  views::ChartWidget* chart() const { return chart_; }

 private:
  void refreshList();
  void refreshInfo();
  void onRowsAppended(const QString& name, int64_t first, int64_t count);

  RunModel* model_;
  QListWidget* list_;
  QPlainTextEdit* info_;
  views::ChartWidget* chart_;
  QString shown_;
  bool user_picked_ = false;
};

}  // namespace dlab::gui
