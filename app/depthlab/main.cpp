// depthlab: the DepthLab desktop GUI.
//   depthlab [run-dir]                      open a run (offline)
//   depthlab --screenshot <dir> <run-dir>   save each panel as a PNG and exit
//   depthlab --bench-charts [--seconds N]   chart frame-time benchmark
#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>
#include <cstdio>

#include "bench_charts.h"
#include "main_window.h"
#include "screenshot.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setOrganizationName("DepthLab");
  QApplication::setApplicationName("depthlab");
  QApplication::setApplicationVersion(DEPTHLAB_VERSION);
  QApplication::setWindowIcon(QIcon(":/depthlab.svg"));

  QCommandLineParser parser;
  parser.setApplicationDescription(
      "DepthLab: watch per-layer statistics of LLM training runs and read their analyses.\n"
      "Opens run directories written by `dlab train` (runs/<name>/run.h5) and `dlab analyze`\n"
      "(runs/<name>/analysis/step-N.h5) without any worker.");
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addPositionalArgument("run-dir", "run directory to open (runs/<name>)", "[run-dir]");
  QCommandLineOption screenshot(
      "screenshot", "Open <run-dir>, save each panel as <dir>/<panel>.png, then exit.", "dir");
  QCommandLineOption bench("bench-charts",
                           "Chart benchmark: 32 series x 20,000 points, one new point per series "
                           "at 30 Hz; prints median and p99 frame time.");
  QCommandLineOption seconds("seconds", "Duration of --bench-charts (default 10).", "N", "10");
  parser.addOptions({screenshot, bench, seconds});
  parser.process(app);
  const QStringList args = parser.positionalArguments();

  if (parser.isSet(bench)) {
    bool ok = false;
    const int s = parser.value(seconds).toInt(&ok);
    if (!ok || s < 1) {
      std::fprintf(stderr, "depthlab: --seconds must be a whole number >= 1, got '%s'\n",
                   qPrintable(parser.value(seconds)));
      return 2;
    }
    return dlab::gui::bench_charts(s);
  }
  dlab::gui::MainWindow window;
  if (parser.isSet(screenshot)) {
    if (args.size() != 1) {
      std::fprintf(stderr, "depthlab: --screenshot <dir> needs exactly one run directory\n");
      return 2;
    }
    return dlab::gui::screenshot_panels(window, parser.value(screenshot), args.front());
  }
  if (args.size() > 1) {
    std::fprintf(stderr, "depthlab: give at most one run directory (got %lld)\n",
                 static_cast<long long>(args.size()));
    return 2;
  }
  window.show();
  if (!args.isEmpty()) window.openRun(args.front());
  return app.exec();
}
