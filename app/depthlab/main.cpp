// depthlab: the DepthLab desktop GUI.
//   depthlab [run-dir]                      open a run; a local worker starts too
//   depthlab --connect ws://HOST:PORT       use a remote worker (token: $DEPTHLAB_TOKEN)
//   depthlab --start demo                   launch a preset at start and watch it live
//   depthlab --screenshot <dir> <run-dir>   save each panel as a PNG and exit
//   depthlab --bench-charts [--seconds N]   chart frame-time benchmark
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QIcon>
#include <QTimer>
#include <QUrl>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>

#include "bench_charts.h"
#include "launch_panel.h"
#include "main_window.h"
#include "screenshot.h"

namespace {

// --help and --version only print: they must work without a display (on a
// server, over ssh, and at build time, where the man page is made from them).
bool prints_only(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    for (const char* flag : {"-h", "--help", "--help-all", "-v", "--version"}) {
      if (std::strcmp(argv[i], flag) == 0) return true;
    }
  }
  return false;
}

}  // namespace

namespace {
// SIGTERM / SIGINT (a logout, `kill`, Ctrl+C in the terminal) close the window
// as File > Quit does: the layout is saved and the local worker stops its runs
// with a checkpoint. The handler only sets a flag; a timer on the GUI thread acts.
std::atomic<bool> g_quit{false};
void on_quit_signal(int) { g_quit.store(true); }
}  // namespace

int main(int argc, char** argv) {
  const std::unique_ptr<QCoreApplication> app = prints_only(argc, argv)
                                                    ? std::make_unique<QCoreApplication>(argc, argv)
                                                    : std::make_unique<QApplication>(argc, argv);
  QCoreApplication::setOrganizationName("DepthLab");
  QCoreApplication::setApplicationName("depthlab");
  QCoreApplication::setApplicationVersion(DEPTHLAB_VERSION);
  if (auto* gui = qobject_cast<QApplication*>(app.get())) {
    gui->setWindowIcon(QIcon(":/depthlab.svg"));
    // Matches the installed org.depthlab.DepthLab.desktop, so a Wayland
    // compositor shows the menu entry's icon and name for the window.
    gui->setDesktopFileName("org.depthlab.DepthLab");
  }

  QCommandLineParser parser;
  parser.setApplicationDescription(
      "DepthLab: launch LLM training runs, watch their per-layer statistics live, intervene\n"
      "on their layers and read their analyses.\n\n"
      "At start a local worker (`dlab serve` on 127.0.0.1, found next to depthlab, in the\n"
      "build tree or on PATH; $DEPTHLAB_DLAB overrides) is spawned; its runs live in --runs.\n"
      "Run directories written by `dlab train` (runs/<name>/run.h5) and `dlab analyze`\n"
      "(runs/<name>/analysis/step-N.h5) open without any worker.");
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addPositionalArgument("run-dir", "run directory to open (runs/<name>)", "[run-dir]");
  QCommandLineOption screenshot(
      "screenshot", "Open <run-dir>, save each panel as <dir>/<panel>.png, then exit.", "dir");
  QCommandLineOption bench("bench-charts",
                           "Chart benchmark: 32 series x 20,000 points, one new point per series "
                           "at 30 Hz; prints median and p99 frame time.");
  QCommandLineOption seconds("seconds", "Duration of --bench-charts (default 10).", "N", "10");
  QCommandLineOption runs("runs",
                          "The local worker's runs directory (default: the opened run's parent "
                          "directory, else ./runs).",
                          "dir");
  QCommandLineOption no_worker("no-worker", "Do not spawn a local worker (browse files only).");
  QCommandLineOption connect_url(
      "connect",
      "Connect to this worker (ws://HOST:PORT or wss://) instead of spawning one; the "
      "token is read from the environment variable DEPTHLAB_TOKEN.",
      "url");
  QCommandLineOption start("start",
                           "Once the worker is connected, launch this preset (e.g. demo) and "
                           "watch it live.",
                           "preset");
  parser.addOptions({screenshot, bench, seconds, runs, no_worker, connect_url, start});
  parser.process(*app);
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
  std::signal(SIGTERM, on_quit_signal);
  std::signal(SIGINT, on_quit_signal);
  QTimer quit_poll;
  QObject::connect(&quit_poll, &QTimer::timeout, &window, [] {
    if (g_quit.load()) QApplication::closeAllWindows();
  });
  quit_poll.start(100);
  if (!args.isEmpty()) window.openRun(args.front());
  if (parser.isSet(start)) {
    if (parser.isSet(no_worker)) {
      std::fprintf(stderr, "depthlab: --start needs a worker; drop --no-worker\n");
      return 2;
    }
    const QString preset = parser.value(start);
    if (!window.launcher()->loadPreset(preset)) {
      std::fprintf(stderr, "depthlab: --start: %s\n", qPrintable(window.launcher()->message()));
      return 2;
    }
    // Launch once, on the first connection (not again after a reconnect).
    auto* once = new QObject(&window);
    QObject::connect(window.worker(), &dlab::client::WorkerClient::connected, once,
                     [&window, once] {
                       window.launcher()->launch();
                       once->deleteLater();
                     });
  }
  if (parser.isSet(connect_url)) {
    const QUrl url(parser.value(connect_url));
    if (!url.isValid() || (url.scheme() != "ws" && url.scheme() != "wss") || url.port() < 1) {
      std::fprintf(stderr,
                   "depthlab: --connect expects ws://HOST:PORT or wss://HOST:PORT, got '%s'\n",
                   qPrintable(parser.value(connect_url)));
      return 2;
    }
    window.connectWorker(url, qEnvironmentVariable("DEPTHLAB_TOKEN"));
  } else if (!parser.isSet(no_worker)) {
    QString runs_dir = parser.value(runs);
    if (runs_dir.isEmpty()) {
      // The opened run's siblings are the worker's runs, so its checkpoints
      // can be evaluated and analysed right away.
      runs_dir = !args.isEmpty() ? QFileInfo(QFileInfo(args.front()).absoluteFilePath()).path()
                                 : QDir::current().absoluteFilePath("runs");
    }
    window.startLocalWorker(runs_dir);
  }
  return app->exec();
}
