#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDialog>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFontDatabase>
#include <QJsonArray>
#include <QJsonDocument>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QSettings>
#include <QStatusBar>
#include <QVBoxLayout>
#include <limits>

#include "about.h"
#include "analysis_panel.h"
#include "browser_panel.h"
#include "compare_panel.h"
#include "connect_dialog.h"
#include "dashboard_panel.h"
#include "help_window.h"
#include "interventions_panel.h"
#include "launch_panel.h"
#include "run_load.h"
#include "views/chart_widget.h"
#include "views/plot_frame.h"

namespace dlab::gui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  // Certificates the user trusted for wss:// workers (Connect dialog).
  ConnectDialog::loadTrustedCertificates(&worker_);
  setWindowTitle("DepthLab");
  setWindowIcon(QIcon(":/depthlab.svg"));
  setDockNestingEnabled(true);
  dashboard_ = new DashboardPanel(&model_);
  analysis_ = new AnalysisPanel(&model_);
  compare_ = new ComparePanel;
  browser_ = new BrowserPanel(&model_);
  launch_ = new LaunchPanel(&worker_);
  interventions_ = new InterventionsPanel(&model_, &worker_);
  view_menu_ = new QMenu(tr("&View"), this);
  panels_menu_ = new QMenu(tr("&Panels shown"), this);
  addPanel("dock_dashboard", tr("Dashboard"), dashboard_, QKeySequence(Qt::CTRL | Qt::Key_1));
  addPanel("dock_heatmaps", tr("Heatmaps"), analysis_, QKeySequence(Qt::CTRL | Qt::Key_2));
  addPanel("dock_compare", tr("Comparison"), compare_, QKeySequence(Qt::CTRL | Qt::Key_3));
  addPanel("dock_browser", tr("Series browser"), browser_, QKeySequence(Qt::CTRL | Qt::Key_4));
  addPanel("dock_launcher", tr("Launcher"), launch_, QKeySequence(Qt::CTRL | Qt::Key_5));
  addPanel("dock_interventions", tr("Interventions"), interventions_,
           QKeySequence(Qt::CTRL | Qt::Key_6));
  defaultLayout();
  default_state_ = saveState();
  buildMenus();

  status_run_ = new QLabel(tr("No run open (File > Open, Ctrl+O)"));
  status_run_->setObjectName("label_run");
  statusBar()->addWidget(status_run_, 1);
  connect(&model_, &RunModel::statusChanged, this, [this] { status_run_->setText(runLine()); });
  // A run opened from disk is on the worker, or offline, depending on which
  // worker is connected now: say it again after a switch.
  connect(&worker_, &client::WorkerClient::connected, this, [this] {
    if (watched_.isEmpty() && !model_.dir().isEmpty()) showOpenedRun();
  });
  connect(compare_, &ComparePanel::loadFailed, this,
          [this](const QString& m) { statusBar()->showMessage(m, 10000); });

  status_worker_ = new QLabel(tr("Worker: not connected"));
  status_worker_->setObjectName("label_worker");
  statusBar()->addPermanentWidget(status_worker_);
  connect(&worker_, &client::WorkerClient::stateChanged, this,
          [this](client::WorkerClient::State, const QString& detail) {
            status_worker_->setText(tr("Worker: %1").arg(detail));
          });
  connect(&worker_, &client::WorkerClient::streamNotice, this,
          [this](const QString&, const QString& text) { statusBar()->showMessage(text, 15000); });
  connect(&worker_, &client::WorkerClient::telemetry, this, &MainWindow::onTelemetry);
  connect(&worker_, &client::WorkerClient::runState, this,
          [this](const QString& run, const client::RunState& s) {
            if (run != watched_) return;
            model_.setStatus(s.state);
            if (!s.message.isEmpty())
              statusBar()->showMessage(tr("%1: %2").arg(run, s.message), 15000);
          });
  connect(&worker_, &client::WorkerClient::connected, this, &MainWindow::syncInterventionsRun);
  connect(launch_, &LaunchPanel::runStarted, this, &MainWindow::watchLive);
  connect(launch_, &LaunchPanel::runContinued, this, &MainWindow::watchContinued);
  connect(&model_, &RunModel::runInfoChanged, this, &MainWindow::updateDialogFolders);
  // Analyze from the Heatmaps: the interventions panel's checkpoint (the newest) on the worker.
  connect(analysis_, &AnalysisPanel::analyzeRequested, interventions_,
          &InterventionsPanel::analyze);
  connect(launch_, &LaunchPanel::watchRequested, this, &MainWindow::watchRun);

  QSettings settings;
  resize(1400, 900);
  restoreGeometry(settings.value("window/geometry").toByteArray());
  restoreState(settings.value("window/state").toByteArray());
}

QDockWidget* MainWindow::addPanel(const QString& object_name, const QString& title, QWidget* panel,
                                  const QKeySequence& shortcut) {
  auto* dock = new QDockWidget(title, this);
  dock->setObjectName(object_name);  // saveState() keys on it
  dock->setWidget(panel);
  dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable |
                    QDockWidget::DockWidgetClosable);
  addDockWidget(Qt::LeftDockWidgetArea, dock);
  // Ctrl+N shows the panel and brings it to the front, also when it is tabbed
  // behind another. It never hides it: a toggle would close a panel on the
  // second press, and the window would remember it closed. (The dock's own
  // close button, or View > Panels shown, hides a panel.)
  QAction* show = view_menu_->addAction(title);
  show->setObjectName("action_show_" + object_name);
  show->setShortcut(shortcut);
  connect(show, &QAction::triggered, dock, [dock] {
    dock->show();
    dock->raise();
  });
  panels_menu_->addAction(dock->toggleViewAction());
  docks_.push_back(dock);
  return dock;
}

void MainWindow::defaultLayout() {
  for (QDockWidget* d : docks_) {
    d->setFloating(false);
    d->show();
    addDockWidget(Qt::LeftDockWidgetArea, d);
  }
  for (size_t i = 1; i < docks_.size(); ++i) tabifyDockWidget(docks_[0], docks_[i]);
  docks_[0]->raise();
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&Open run..."), QKeySequence::Open, this, &MainWindow::openDialog);
  file->addAction(tr("&Add run to comparison..."), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O),
                  this, [this] {
                    const QString dir =
                        QFileDialog::getExistingDirectory(this, tr("Add a run"), runsFolder());
                    if (!dir.isEmpty()) compare_->addRun(dir);
                  });
  file->addAction(tr("&Reload"), QKeySequence::Refresh, this, [this] {
    if (!model_.dir().isEmpty()) openRun(model_.dir());
  });
  file->addSeparator();
  file->addAction(tr("&Connect to worker..."), QKeySequence(Qt::CTRL | Qt::Key_K), this,
                  &MainWindow::connectDialog);
  file->addAction(tr("Use the &local worker"), this, [this] {
    if (local_ && local_->running() && !local_->url().isEmpty()) {
      worker_.connectTo(local_->url(), local_->token());
    } else {
      startLocalWorker(local_ ? local_->runsDir() : QDir::current().absoluteFilePath("runs"));
    }
  });
  file->addAction(tr("Save window as &PNG..."), QKeySequence(Qt::CTRL | Qt::Key_P), this, [this] {
    const QString f = QFileDialog::getSaveFileName(this, tr("Save window"),
                                                   QDir(runsFolder()).filePath("depthlab.png"));
    if (!f.isEmpty()) grab().save(f);
  });
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
  view_menu_->addSeparator();
  view_menu_->addMenu(panels_menu_);
  view_menu_->addAction(tr("&Reset layout"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_R), this,
                        [this] { restoreState(default_state_); });
  menuBar()->addMenu(view_menu_);
  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&Documentation"), QKeySequence::HelpContents, this,
                  &MainWindow::showDocumentation)
      ->setObjectName("action_documentation");
  help->addAction(tr("&Keyboard shortcuts"), QKeySequence(Qt::CTRL | Qt::Key_Slash), this,
                  &MainWindow::showShortcuts)
      ->setObjectName("action_shortcuts");
  help->addAction(tr("Local &worker log"), this, &MainWindow::showWorkerLog);
  help->addSeparator();
  help->addAction(tr("&About DepthLab"), this, &MainWindow::showAbout);
  help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

void MainWindow::openDialog() {
  const QString dir = QFileDialog::getExistingDirectory(
      this, tr("Open a run directory (runs/<name>)"), runsFolder());
  if (!dir.isEmpty()) openRun(dir);
}

QString MainWindow::runsFolder() const {
  if (local_ && !local_->runsDir().isEmpty()) return local_->runsDir();
  if (!model_.dir().isEmpty() && QFileInfo(model_.dir()).isDir())
    return QFileInfo(model_.dir()).absolutePath();  // the open run's folder of runs
  const QString here = QDir::current().absoluteFilePath("runs");
  return QFileInfo(here).isDir() ? here : QDir::currentPath();
}

void MainWindow::updateDialogFolders() {
  // Every file dialog of the window and its plots starts in the runs folder.
  views::PlotFrame::setExportDirectory(runsFolder());
  compare_->setStartDirectory(runsFolder());
}

void MainWindow::openRun(const QString& dir) {
  watched_.clear();  // an opened file replaces the live view
  status_run_->setText(tr("Loading %1 ...").arg(dir));
  run_load_async(this, dir, [this](LoadedRun run) {
    if (!run.error.isEmpty()) {
      status_run_->setText(tr("Could not open: %1").arg(run.error));
      emit loadFailed(run.error);
      return;
    }
    run_model_fill(model_, run);
    showOpenedRun();
    if (!run.warnings.isEmpty()) statusBar()->showMessage(run.warnings.join("; "), 15000);
    compare_->addRun(run.dir);
    syncInterventionsRun();
    emit runLoaded(run.dir);
  });
}

QString MainWindow::runLine() const {
  return tr("%1  -  %2  -  %3  -  %4")
      .arg(model_.name(), model_.status(), runOrigin(model_.dir()), model_.dir());
}

void MainWindow::showOpenedRun() {
  setWindowTitle(onWorker(model_.dir()) ? tr("DepthLab - %1").arg(model_.name())
                                        : tr("DepthLab - %1 (offline)").arg(model_.name()));
  status_run_->setText(runLine());
}

bool MainWindow::onWorker(const QString& dir) const {
  if (worker_.state() != client::WorkerClient::State::Connected) return false;
  const QString runs = QFileInfo(worker_.serverInfo().runs_dir).canonicalFilePath();
  const QString parent = QFileInfo(QFileInfo(dir).absoluteFilePath()).dir().canonicalPath();
  return !runs.isEmpty() && parent == runs;
}

QString MainWindow::runOrigin(const QString& dir) const {
  return onWorker(dir) ? tr("on the worker %1").arg(worker_.url().toString())
                       : tr("offline, from disk");
}

void MainWindow::startLocalWorker(const QString& runs_dir) {
  if (local_) {
    local_->stop();
    local_->deleteLater();
  }
  local_ = new client::LocalWorker(this);
  connect(local_, &client::LocalWorker::ready, this,
          [this](const QUrl& url, const QString& token) { worker_.connectTo(url, token); });
  connect(local_, &client::LocalWorker::failed, this, [this](const QString& why) {
    // Retrying the address of a worker that is gone would only hide the reason.
    if (!local_->url().isEmpty() && worker_.url() == local_->url()) worker_.disconnectFrom();
    status_worker_->setText(tr("Worker: local worker failed"));
    status_worker_->setToolTip(why);
    statusBar()->showMessage(tr("Local worker: %1").arg(why), 30000);
    emit workerFailed(why);
  });
  status_worker_->setText(tr("Worker: starting the local worker ..."));
  local_->start(client::dlab_binary_find(), runs_dir);
  updateDialogFolders();
}

void MainWindow::connectWorker(const QUrl& url, const QString& token) {
  worker_.connectTo(url, token);
}

void MainWindow::connectDialog() {
  ConnectDialog dialog(&worker_, this);
  if (worker_.state() != client::WorkerClient::State::Disconnected &&
      (!local_ || worker_.url() != local_->url())) {
    dialog.setUrl(worker_.url().toString());
  }
  // The dialog connects the worker itself and closes once it answered.
  if (dialog.exec() == QDialog::Accepted) return;
  // Given up after a failed try: back to the local worker, if there is one.
  if (dialog.attemptFailed() && local_ && local_->running() && !local_->url().isEmpty()) {
    worker_.connectTo(local_->url(), local_->token());
    statusBar()->showMessage(
        tr("Not connected to %1; using the local worker again").arg(dialog.url().toString()),
        10000);
  }
}

void MainWindow::watchRun(const QString& run) {
  worker_.listRuns(this, [this, run](const client::Reply<std::vector<client::RunEntry>>& reply) {
    const client::RunEntry* r = client::run_find(reply.value, run);
    if (!r) {
      statusBar()->showMessage(tr("The worker has no run \"%1\"").arg(run), 10000);
      return;
    }
    const QString dir = QDir(worker_.serverInfo().runs_dir).absoluteFilePath(run);
    if (client::run_state_live(r->state)) {
      watchLive(run, dir, {});
    } else if (QFileInfo::exists(dir + "/run.h5")) {
      openRun(dir);
    } else {
      statusBar()->showMessage(
          tr("%1 has ended and its directory is on the worker's machine (%2)").arg(run, dir),
          15000);
    }
  });
}

void MainWindow::watchLive(const QString& run, const QString& dir, const QJsonObject& config) {
  model_.clear();
  followLive(run, dir, config, tr("live from the worker"), /*continued=*/false);
  if (config.isEmpty()) {
    // Attached to a run another client started: its config is in its run.h5
    // when this machine sees it (the series come from the telemetry replay).
    run_load_async(this, dir, [this, run](LoadedRun loaded) {
      if (watched_ != run || !loaded.error.isEmpty()) return;
      model_.setRunInfo(run, loaded.dir,
                        QJsonDocument::fromJson(loaded.config_json.toUtf8()).object());
    });
  }
}

void MainWindow::watchContinued(const QString& run, const QString& dir, const QJsonObject& config) {
  watched_.clear();  // nothing streams in until the history is there
  status_run_->setText(tr("Loading %1 ...").arg(dir));
  run_load_async(this, dir, [this, run, dir, config](LoadedRun loaded) {
    // A remote worker's file is not readable here: the continued steps only.
    if (!loaded.error.isEmpty()) return watchLive(run, dir, config);
    run_model_fill(model_, loaded);
    // The steps already in the file are skipped as they stream in (onTelemetry).
    followLive(run, dir, config, tr("continued, live from the worker"), /*continued=*/true);
  });
}

void MainWindow::followLive(const QString& run, const QString& dir, const QJsonObject& config,
                            const QString& how, bool continued) {
  watched_ = run;
  model_.setRunInfo(run, dir, config);
  model_.setStatus("running");
  setWindowTitle(tr("DepthLab - %1 (live)").arg(run));
  status_run_->setText(tr("%1  -  %2  -  %3").arg(run, how, dir));
  // From message 1, so the charts show the whole run (a telemetry_gap says
  // when the worker no longer holds the start); a continued run's earlier
  // steps come from its run.h5, so from the oldest message held.
  if (worker_.subscribed(run) && worker_.lastSeq(run) > 0) worker_.unsubscribe(run);
  worker_.subscribe(run, continued ? client::WorkerClient::kFromOldest : 1);
  syncInterventionsRun();
  dashboard_->parentWidget()->raise();
}

void MainWindow::onTelemetry(const client::TelemetryBatch& batch) {
  if (batch.run != watched_) return;
  for (const client::TelemetrySeries& s : batch.series) {
    const RunModel::Series* have = model_.series(s.name);
    if (!have || have->width != s.width) {
      model_.declareSeries(s.name, s.width);
      have = model_.series(s.name);
    }
    // Rows the model has already (read from run.h5 before the stream) are
    // not added twice: only the steps after its last one.
    const int64_t last =
        have->steps.empty() ? std::numeric_limits<int64_t>::min() : have->steps.back();
    const int64_t n = int64_t(s.steps.size());
    int64_t first = 0;
    while (first < n && s.steps[size_t(first)] <= last) ++first;
    if (first == n) continue;
    model_.appendRows(s.name, s.steps.data() + first, s.values.data() + first * s.width, n - first);
  }
}

void MainWindow::syncInterventionsRun() {
  if (model_.name().isEmpty()) return;
  if (interventions_->run() != model_.name() ||
      worker_.state() == client::WorkerClient::State::Connected) {
    interventions_->setRun(model_.name());
  }
}

void MainWindow::showWorkerLog() {
  // The local worker's stderr (its diagnostics and the progress of its runs),
  // growing while the dialog is open.
  auto* dialog = new QDialog(this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  dialog->setWindowTitle(tr("Local worker log"));
  dialog->resize(900, 500);
  auto* text = new QPlainTextEdit(dialog);
  text->setObjectName("text_worker_log");
  text->setReadOnly(true);
  text->setLineWrapMode(QPlainTextEdit::NoWrap);
  text->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  if (local_) {
    text->setPlainText(local_->log().join('\n'));
    connect(local_, &client::LocalWorker::logLine, text, &QPlainTextEdit::appendPlainText);
  } else {
    text->setPlainText(tr("No local worker (started with --no-worker or --connect)."));
  }
  auto* layout = new QVBoxLayout(dialog);
  layout->addWidget(text);
  dialog->show();
}

void MainWindow::showDocumentation() {
  if (!documentation_) documentation_ = new DocumentationWindow(this);
  documentation_->showDocument("gui.md");
  documentation_->show();
  documentation_->raise();
  documentation_->activateWindow();
}

void MainWindow::showShortcuts() {
  std::vector<ShortcutEntry> chart_keys;
  for (const views::ChartWidget::KeyBinding& k : views::ChartWidget::keyBindings()) {
    chart_keys.push_back({tr("a chart with the focus"), tr(k.action),
                          QKeySequence(k.key).toString(QKeySequence::NativeText)});
  }
  ShortcutsDialog(menuBar(), chart_keys, this).exec();
}

void MainWindow::showAbout() { QMessageBox::about(this, tr("About DepthLab"), about_text()); }

void MainWindow::closeEvent(QCloseEvent* e) {
  QSettings settings;
  settings.setValue("window/geometry", saveGeometry());
  settings.setValue("window/state", saveState());
  e->accept();
}

}  // namespace dlab::gui
