// The depthlab main window: dockable panels (launcher, dashboard,
// interventions, heatmaps, comparison, series browser), layout remembered in
// QSettings, keyboard shortcuts; the worker connection (a local `dlab serve`
// spawned at start, or a remote one from File > Connect), with its state in
// the status bar; and the offline mode: File > Open loads a run directory in
// the background, no worker needed.
//
// One run is shown at a time (RunModel): either opened from its directory, or
// watched live, its telemetry appended to the model as it arrives.
#pragma once

#include <QDockWidget>
#include <QLabel>
#include <QMainWindow>
#include <vector>

#include "local_worker.h"
#include "run_model.h"
#include "worker_client.h"

namespace dlab::gui {

class AnalysisPanel;
class BrowserPanel;
class ComparePanel;
class DashboardPanel;
class DocumentationWindow;
class InterventionsPanel;
class LaunchPanel;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);

  // Loads a run directory on a worker thread; emits runLoaded or loadFailed.
  void openRun(const QString& dir);
  // Spawns the local worker (dlab serve on 127.0.0.1) with runs under
  // `runs_dir`, and connects to it once it listens.
  void startLocalWorker(const QString& runs_dir);
  // Where file dialogs start (open, add, export, save): the local worker's
  // runs folder, else the open run's folder of runs, else ./runs, else here.
  QString runsFolder() const;
  // Connects to a remote worker instead (the local one keeps running).
  void connectWorker(const QUrl& url, const QString& token);
  // Shows a run of the worker: live (telemetry into the model) while it runs,
  // else opened from its directory when this machine sees it.
  void watchRun(const QString& run);
  const QString& watchedRun() const { return watched_; }
  RunModel* model() { return &model_; }
  client::WorkerClient* worker() { return &worker_; }
  client::LocalWorker* localWorker() { return local_; }
  LaunchPanel* launcher() const { return launch_; }
  InterventionsPanel* interventions() const { return interventions_; }
  DashboardPanel* dashboard() const { return dashboard_; }
  AnalysisPanel* analysis() const { return analysis_; }
  ComparePanel* compare() const { return compare_; }
  BrowserPanel* browser() const { return browser_; }
  // The docks in menu order, each named dock_<panel>.
  const std::vector<QDockWidget*>& docks() const { return docks_; }

 signals:
  void runLoaded(const QString& dir);
  void loadFailed(const QString& message);
  void workerFailed(const QString& message);

 protected:
  void closeEvent(QCloseEvent*) override;

 private:
  QDockWidget* addPanel(const QString& object_name, const QString& title, QWidget* panel,
                        const QKeySequence& shortcut);
  void buildMenus();
  void defaultLayout();
  void showAbout();
  void showDocumentation();  // Help > Documentation (F1)
  void showShortcuts();      // Help > Keyboard shortcuts
  void showWorkerLog();
  void openDialog();
  void connectDialog();
  void watchLive(const QString& run, const QString& dir, const QJsonObject& config);
  // Whether `dir` is a run of the connected worker (a folder of its runs
  // directory), and the status bar's words for it: "on the worker ws://..."
  // or "offline, from disk" (a file opened without the worker, which
  // interventions and analyses cannot use).
  bool onWorker(const QString& dir) const;
  // The status line of the open run: its name, status, where it comes from
  // (runOrigin) and its folder.
  QString runLine() const;
  // The title and status line of a run opened from disk.
  void showOpenedRun();
  QString runOrigin(const QString& dir) const;
  // A run continued on the worker: its history from run.h5 where this machine
  // can read it (the local worker's runs), then the continued steps live.
  void watchContinued(const QString& run, const QString& dir, const QJsonObject& config);
  // What both share once the model holds what it should: the run is the
  // watched one, shown running ("<run> - <how> - <dir>"), streamed from its
  // first message (continued: from the first the worker still holds, the
  // earlier steps being in the model from run.h5).
  void followLive(const QString& run, const QString& dir, const QJsonObject& config,
                  const QString& how, bool continued);
  void onTelemetry(const client::TelemetryBatch& batch);
  void updateDialogFolders();
  // The run the interventions panel works on: the model's, when the worker has it.
  void syncInterventionsRun();

  RunModel model_;
  client::WorkerClient worker_;
  client::LocalWorker* local_ = nullptr;
  QString watched_;  // the live run whose telemetry feeds the model ("" when none)
  LaunchPanel* launch_;
  InterventionsPanel* interventions_;
  DashboardPanel* dashboard_;
  AnalysisPanel* analysis_;
  ComparePanel* compare_;
  BrowserPanel* browser_;
  std::vector<QDockWidget*> docks_;
  QMenu* view_menu_ = nullptr;
  QMenu* panels_menu_ = nullptr;                  // a tick per panel: show or hide it
  DocumentationWindow* documentation_ = nullptr;  // made on the first F1
  QLabel* status_run_;
  QLabel* status_worker_;
  QByteArray default_state_;
};

}  // namespace dlab::gui
