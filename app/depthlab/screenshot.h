// depthlab --screenshot <dir> <run-dir>: opens the run, shows each panel in
// turn and saves it as <dir>/<panel>.png (QWidget::grab), plus window.png.
#pragma once

#include <QString>

namespace dlab::gui {

class MainWindow;

// Returns the process exit code; prints each file written.
int screenshot_panels(MainWindow& window, const QString& out_dir, const QString& run_dir);

}  // namespace dlab::gui
