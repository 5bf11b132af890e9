// depthlab --screenshot <dir> <run-dir>: opens the run, shows each panel in
// turn and saves it as <dir>/<panel>.png (QWidget::grab), plus window.png.
#pragma once

#include <QDockWidget>
#include <QString>

namespace dlab::gui {

class MainWindow;
// Shows and raises the dock, lets it lay out and paint, and saves it as a PNG
// (a panel that is one big scroll area: all of it). False when it cannot write.
bool screenshot_dock(QDockWidget* dock, const QString& file);

// Returns the process exit code; prints each file written.
int screenshot_panels(MainWindow& window, const QString& out_dir, const QString& run_dir);

}  // namespace dlab::gui
