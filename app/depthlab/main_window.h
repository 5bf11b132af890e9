// The depthlab main window: dockable panels (dashboard, heatmaps, comparison,
// series browser), layout remembered in QSettings, keyboard shortcuts, and the
// offline mode: File > Open loads a run directory in the background.
#pragma once

#include <QDockWidget>
#include <QLabel>
#include <QMainWindow>
#include <vector>

#include "run_model.h"

namespace dlab::gui {

class AnalysisPanel;
class BrowserPanel;
class ComparePanel;
class DashboardPanel;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);

  // Loads a run directory on a worker thread; emits runLoaded or loadFailed.
  void openRun(const QString& dir);
  RunModel* model() { return &model_; }
  DashboardPanel* dashboard() const { return dashboard_; }
  AnalysisPanel* analysis() const { return analysis_; }
  ComparePanel* compare() const { return compare_; }
  BrowserPanel* browser() const { return browser_; }
  // The docks in menu order, each named dock_<panel>.
  const std::vector<QDockWidget*>& docks() const { return docks_; }

 signals:
  void runLoaded(const QString& dir);
  void loadFailed(const QString& message);

 protected:
  void closeEvent(QCloseEvent*) override;

 private:
  QDockWidget* addPanel(const QString& object_name, const QString& title, QWidget* panel,
                        const QKeySequence& shortcut);
  void buildMenus();
  void defaultLayout();
  void showAbout();
  void openDialog();

  RunModel model_;
  DashboardPanel* dashboard_;
  AnalysisPanel* analysis_;
  ComparePanel* compare_;
  BrowserPanel* browser_;
  std::vector<QDockWidget*> docks_;
  QMenu* view_menu_ = nullptr;
  QLabel* status_run_;
  QByteArray default_state_;
};

}  // namespace dlab::gui
