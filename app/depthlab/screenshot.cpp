#include "screenshot.h"

#include <QApplication>
#include <QDir>
#include <QDockWidget>
#include <QEventLoop>
#include <QScrollArea>
#include <QTimer>
#include <algorithm>
#include <cstdio>

#include "compare_panel.h"
#include "dashboard_panel.h"
#include "main_window.h"
#include "worker_client.h"

namespace dlab::gui {

namespace {
void settle(int ms) {
  // Lets queued loads, coalesced repaints and layouts run.
  QEventLoop loop;
  QTimer::singleShot(ms, &loop, &QEventLoop::quit);
  loop.exec();
}
}  // namespace

bool screenshot_dock(QDockWidget* dock, const QString& file) {
  dock->show();
  dock->raise();
  settle(400);
  QWidget* target = dock->widget();
  // A panel that is one big scroll area is saved whole, not just its visible part.
  if (auto* scroll = target->findChild<QScrollArea*>();
      scroll && scroll->width() * scroll->height() >= 0.8 * target->width() * target->height()) {
    QWidget* inner = scroll->widget();
    inner->resize(inner->width(), std::max(inner->height(), inner->sizeHint().height()));
    settle(200);
    target = inner;
  }
  return target->grab().save(file);
}

int screenshot_panels(MainWindow& window, const QString& out_dir, const QString& run_dir) {
  if (!QDir().mkpath(out_dir)) {
    std::fprintf(stderr, "depthlab: cannot create %s\n", qPrintable(out_dir));
    return 1;
  }
  QString error;
  bool done = false;
  QEventLoop wait;
  QObject::connect(&window, &MainWindow::runLoaded, &wait, [&] {
    done = true;
    wait.quit();
  });
  QObject::connect(&window, &MainWindow::loadFailed, &wait, [&](const QString& m) {
    error = m;
    wait.quit();
  });
  window.resize(1500, 1000);
  window.show();
  window.openRun(run_dir);
  QTimer::singleShot(120000, &wait, &QEventLoop::quit);
  wait.exec();
  if (!done) {
    std::fprintf(stderr, "depthlab: %s\n",
                 qPrintable(error.isEmpty() ? "timed out loading" : error));
    return 1;
  }
  // Runs next to this one (a sweep's siblings) join the comparison.
  QDir parent(run_dir);
  parent.cdUp();
  const QString self = QDir(run_dir).canonicalPath();
  for (const QString& sib : parent.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
    const QString p = parent.filePath(sib);
    if (QDir(p).canonicalPath() != self && QFile::exists(p + "/run.h5"))
      window.compare()->addRun(p);
  }
  settle(1500);
  window.dashboard()->refreshNow();
  int written = 0;
  const bool live = window.worker()->state() == client::WorkerClient::State::Connected;
  for (QDockWidget* dock : window.docks()) {
    // The launcher and the interventions need a worker: without one they
    // would only show "not connected" (their screenshots come from the GUI
    // end-to-end test, tests/app/depthlab/gui_e2e_test.cpp).
    const QString name = dock->objectName().mid(QString("dock_").size());
    if (!live && (name == "launcher" || name == "interventions")) continue;
    const QString file = QDir(out_dir).filePath(name + ".png");
    if (!screenshot_dock(dock, file)) {
      std::fprintf(stderr, "depthlab: could not write %s\n", qPrintable(file));
      return 1;
    }
    std::printf("%s\n", qPrintable(file));
    ++written;
  }
  window.docks().front()->raise();
  settle(300);
  const QString file = QDir(out_dir).filePath("window.png");
  if (!window.grab().save(file)) return 1;
  std::printf("%s\n", qPrintable(file));
  return written > 0 ? 0 : 1;
}

}  // namespace dlab::gui
