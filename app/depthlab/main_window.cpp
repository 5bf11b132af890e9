#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QFileDialog>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QStatusBar>

#include "about.h"
#include "analysis_panel.h"
#include "browser_panel.h"
#include "compare_panel.h"
#include "dashboard_panel.h"
#include "run_load.h"

namespace dlab::gui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle("DepthLab");
  setWindowIcon(QIcon(":/depthlab.svg"));
  setDockNestingEnabled(true);
  dashboard_ = new DashboardPanel(&model_);
  analysis_ = new AnalysisPanel(&model_);
  compare_ = new ComparePanel;
  browser_ = new BrowserPanel(&model_);
  view_menu_ = new QMenu(tr("&View"), this);
  addPanel("dock_dashboard", tr("Dashboard"), dashboard_, QKeySequence(Qt::CTRL | Qt::Key_1));
  addPanel("dock_heatmaps", tr("Heatmaps"), analysis_, QKeySequence(Qt::CTRL | Qt::Key_2));
  addPanel("dock_compare", tr("Comparison"), compare_, QKeySequence(Qt::CTRL | Qt::Key_3));
  addPanel("dock_browser", tr("Series browser"), browser_, QKeySequence(Qt::CTRL | Qt::Key_4));
  defaultLayout();
  default_state_ = saveState();
  buildMenus();

  status_run_ = new QLabel(tr("No run open (File > Open, Ctrl+O)"));
  statusBar()->addWidget(status_run_, 1);
  connect(&model_, &RunModel::statusChanged, this, [this](const QString& s) {
    status_run_->setText(tr("%1  -  %2  -  %3").arg(model_.name(), s, model_.dir()));
  });
  connect(compare_, &ComparePanel::loadFailed, this,
          [this](const QString& m) { statusBar()->showMessage(m, 10000); });

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
  QAction* toggle = dock->toggleViewAction();
  toggle->setShortcut(shortcut);
  // Ctrl+N also brings a tabbed panel to the front.
  connect(toggle, &QAction::triggered, dock, [dock](bool on) {
    if (on) dock->raise();
  });
  view_menu_->addAction(toggle);
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
                    const QString dir = QFileDialog::getExistingDirectory(this, tr("Add a run"));
                    if (!dir.isEmpty()) compare_->addRun(dir);
                  });
  file->addAction(tr("&Reload"), QKeySequence::Refresh, this, [this] {
    if (!model_.dir().isEmpty()) openRun(model_.dir());
  });
  file->addAction(tr("Save window as &PNG..."), QKeySequence(Qt::CTRL | Qt::Key_P), this, [this] {
    const QString f = QFileDialog::getSaveFileName(this, tr("Save window"), "depthlab.png");
    if (!f.isEmpty()) grab().save(f);
  });
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
  view_menu_->addSeparator();
  view_menu_->addAction(tr("&Reset layout"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_R), this,
                        [this] { restoreState(default_state_); });
  menuBar()->addMenu(view_menu_);
  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About DepthLab"), QKeySequence::HelpContents, this, &MainWindow::showAbout);
  help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

void MainWindow::openDialog() {
  const QString dir =
      QFileDialog::getExistingDirectory(this, tr("Open a run directory (runs/<name>)"));
  if (!dir.isEmpty()) openRun(dir);
}

void MainWindow::openRun(const QString& dir) {
  status_run_->setText(tr("Loading %1 ...").arg(dir));
  run_load_async(this, dir, [this](LoadedRun run) {
    if (!run.error.isEmpty()) {
      status_run_->setText(tr("Could not open: %1").arg(run.error));
      emit loadFailed(run.error);
      return;
    }
    run_model_fill(model_, run);
    setWindowTitle(tr("DepthLab - %1").arg(run.name));
    status_run_->setText(tr("%1  -  %2  -  %3").arg(run.name, run.status, run.dir));
    if (!run.warnings.isEmpty()) statusBar()->showMessage(run.warnings.join("; "), 15000);
    compare_->addRun(run.dir);
    emit runLoaded(run.dir);
  });
}

void MainWindow::showAbout() { QMessageBox::about(this, tr("About DepthLab"), about_text()); }

void MainWindow::closeEvent(QCloseEvent* e) {
  QSettings settings;
  settings.setValue("window/geometry", saveGeometry());
  settings.setValue("window/state", saveState());
  e->accept();
}

}  // namespace dlab::gui
