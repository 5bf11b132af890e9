// The GUI end to end (issue 5, must-show 2): the real main window spawns its
// real local worker (`dlab serve` on 127.0.0.1), the launcher starts the tiny
// preset with a click, the variance charts fill with one line per layer from
// the live telemetry, a click on the interventions strip skips a block and the
// loss change shows, and the window is saved as a PNG.
//
// With DEPTHLAB_SCREENSHOT_DIR set, the live panels are also saved there
// (launcher.png, interventions.png, dashboard-live.png, window-live.png): this
// is how docs/screenshots gets them.
#include <gtest/gtest.h>

#include <QComboBox>
#include <QDockWidget>
#include <QImage>
#include <QJsonArray>
#include <QLabel>
#include <QProcess>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTest>
#include <cmath>
#include <csignal>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "connect_dialog.h"
#include "dashboard_panel.h"
#include "gui_test_util.h"
#include "interventions_panel.h"
#include "launch_panel.h"
#include "local_worker.h"
#include "main_window.h"
#include "screenshot.h"
#include "store/run_file.h"
#include "views/chart_widget.h"
#include "views/layer_strip_widget.h"

namespace dlab::test {
namespace {

using client::WorkerClient;
using gui::InterventionsPanel;
using gui::LaunchPanel;
using gui::MainWindow;

QDockWidget* dock_named(MainWindow& w, const QString& name) {
  for (QDockWidget* d : w.docks())
    if (d->objectName() == name) return d;
  return nullptr;
}

// Starts the window's real local worker (the dlab binary) on dir/runs and
// waits for the connection: "" once connected, else why not.
QString local_worker_connect(MainWindow& w, const std::filesystem::path& dir) {
  qputenv("DEPTHLAB_DLAB", DEPTHLAB_DLAB_BINARY);
  QString error;
  QObject scope;  // the connection below ends with this function
  QObject::connect(&w, &MainWindow::workerFailed, &scope, [&](const QString& m) { error = m; });
  w.startLocalWorker(QString::fromStdString((dir / "runs").string()));
  auto connected = [&] { return w.worker()->state() == WorkerClient::State::Connected; };
  wait_until([&] { return connected() || !error.isEmpty(); }, 60000);
  if (connected()) return {};
  return error.isEmpty() ? QString("no connection to the local worker within 60 s") : error;
}

// Starts `w` (the real dlab binary as `dlab serve`) on `runs` and waits until
// it listens: true once w.url() and w.token() can be used.
bool worker_listening(client::LocalWorker& w, const std::filesystem::path& runs) {
  w.start(DEPTHLAB_DLAB_BINARY, QString::fromStdString(runs.string()));
  return wait_until([&] { return w.url().isValid(); }, 60000);
}

TEST(GuiE2E, LaunchWatchSkipAndSaveWindow) {
  const std::filesystem::path dir = gui_test_dir("e2e");
  const QString shots = qEnvironmentVariable("DEPTHLAB_SCREENSHOT_DIR");

  MainWindow w;
  w.resize(1500, 1000);
  w.show();
  ASSERT_EQ(local_worker_connect(w, dir), "");
  EXPECT_TRUE(w.worker()->url().toString().startsWith("ws://127.0.0.1:"));

  // The launcher: the tiny preset, a few fields changed as a user would.
  LaunchPanel* launch = w.launcher();
  ASSERT_TRUE(launch->loadPreset("tiny"));
  EXPECT_EQ(launch->field("model.n_layers"), "2");
  ASSERT_TRUE(launch->setField("run.name", "gui-e2e"));
  ASSERT_TRUE(launch->setField("model.n_layers", "4"));
  ASSERT_TRUE(launch->setField("train.steps", "80"));
  ASSERT_TRUE(launch->setField("train.checkpoint_every", "40"));
  // A value that does not parse is flagged under its field at once ...
  ASSERT_TRUE(launch->setField("train.lr", "fast"));
  EXPECT_FALSE(launch->fieldError("train.lr").isEmpty());
  ASSERT_TRUE(launch->setField("train.lr", "3e-3"));
  EXPECT_TRUE(launch->fieldError("train.lr").isEmpty());
  // ... and the worker's validation comes back field by field.
  ASSERT_TRUE(launch->setField("model.n_heads", "3"));
  auto* launch_button = launch->findChild<QPushButton*>("button_launch");
  ASSERT_NE(launch_button, nullptr);
  ASSERT_TRUE(launch_button->isEnabled());
  QTest::mouseClick(launch_button, Qt::LeftButton);
  ASSERT_TRUE(wait_until([&] { return !launch->fieldError("model.n_heads").isEmpty(); }, 20000))
      << launch->message().toStdString();
  EXPECT_TRUE(w.watchedRun().isEmpty()) << "an invalid config must not start a run";
  ASSERT_TRUE(launch->setField("model.n_heads", "4"));

  QTest::mouseClick(launch_button, Qt::LeftButton);
  ASSERT_TRUE(wait_until([&] { return w.watchedRun() == "gui-e2e"; }, 30000))
      << launch->message().toStdString();

  // Live: the per-layer variance chart gets one line per layer.
  views::ChartWidget* per_layer = w.dashboard()->chart("chart_resid_var");
  ASSERT_NE(per_layer, nullptr);
  ASSERT_TRUE(wait_until(
      [&] {
        const auto* s = w.model()->series("resid_var");
        return s && s->rows() >= 10;
      },
      60000));
  EXPECT_EQ(per_layer->lineCount(), 4);
  EXPECT_EQ(w.model()->series("resid_var")->width, 4);
  if (!shots.isEmpty()) {
    ASSERT_TRUE(gui::screenshot_dock(dock_named(w, "dock_launcher"), shots + "/launcher.png"));
  }
  ASSERT_TRUE(wait_until([&] { return w.model()->status() == "finished"; }, 180000))
      << "status " << w.model()->status().toStdString();

  // The worker's log (Help > Local worker log) tells the run's story.
  ASSERT_TRUE(wait_until(
      [&] { return w.localWorker()->log().join('\n').contains("gui-e2e finished"); }, 10000))
      << w.localWorker()->log().join('\n').toStdString();

  // The streamed series equal the run's file, step for step.
  {
    RunReader reader = RunReader::open(dir / "runs" / "gui-e2e" / "run.h5");
    const SeriesData file = reader.read("resid_var");
    const auto* live = w.model()->series("resid_var");
    ASSERT_EQ(int64_t(file.steps.size()), live->rows());
    for (size_t i = 0; i < file.steps.size(); ++i) {
      ASSERT_EQ(file.steps[i], live->steps[i]);
      for (int l = 0; l < 4; ++l) ASSERT_EQ(file.values[4 * i + l], live->values[4 * i + l]);
    }
  }

  // Interventions: the finished run's newest checkpoint, its intact loss, one skip.
  InterventionsPanel* iv = w.interventions();
  ASSERT_EQ(iv->run(), "gui-e2e");
  QDockWidget* iv_dock = dock_named(w, "dock_interventions");
  iv_dock->show();
  iv_dock->raise();
  ASSERT_TRUE(wait_until([&] { return std::isfinite(iv->intactLoss()); }, 120000));
  auto* strip = iv->findChild<views::LayerStripWidget*>("strip_layers");
  ASSERT_NE(strip, nullptr);
  ASSERT_EQ(strip->tileCount(), 4);
  QTest::qWait(200);  // the dock lays out
  QTest::mouseClick(strip, Qt::LeftButton, {}, strip->tileRect(1).center().toPoint());
  ASSERT_TRUE(wait_until([&] { return std::isfinite(iv->planLoss()); }, 60000));
  const double after_skip = iv->planLoss();
  EXPECT_EQ(iv->planText(), "skip 1");
  EXPECT_EQ(iv->historyRows(), 1);
  EXPECT_GT(std::abs(iv->planLoss() - iv->intactLoss()), 1e-6)
      << "skipping a trained block should change the loss";

  // Swap mode: two clicks exchange two blocks; the plan accumulates.
  iv->findChild<QPushButton*>("button_swap")->click();
  QTest::mouseClick(strip, Qt::LeftButton, {}, strip->tileRect(2).center().toPoint());
  QTest::mouseClick(strip, Qt::LeftButton, {}, strip->tileRect(3).center().toPoint());
  ASSERT_TRUE(wait_until([&] { return iv->historyRows() == 2; }, 60000));
  EXPECT_EQ(iv->planText(), "skip 1, swap 2 3");
  // Each changed tile shows its state and its own operation's loss change.
  auto own = [](double v) { return (v >= 0 ? "+" : "") + QString::number(v, 'f', 3); };
  const double after_swap = iv->planLoss();
  EXPECT_EQ(strip->tileLabel(1), "skip  " + own(after_skip - iv->intactLoss()));
  EXPECT_EQ(strip->tileLabel(2), "swap 3  " + own(after_swap - after_skip))
      << strip->tileLabel(2).toStdString();
  EXPECT_EQ(strip->tileLabel(3), "swap 2  " + own(after_swap - after_skip));
  EXPECT_TRUE(strip->tileLabel(0).isEmpty());
  // A click on a changed tile takes that change back (no "skip 1, skip 1").
  QTest::mouseClick(strip, Qt::LeftButton, {}, strip->tileRect(1).center().toPoint());
  ASSERT_TRUE(wait_until([&] { return iv->historyRows() == 3; }, 60000));
  EXPECT_EQ(iv->planText(), "swap 2 3");
  EXPECT_TRUE(strip->tileLabel(1).isEmpty());
  auto* history = iv->findChild<QTableWidget*>("table_history");
  ASSERT_NE(history, nullptr);
  EXPECT_EQ(history->item(2, 0)->text(), "undo skip 1");
  EXPECT_EQ(history->item(2, 3)->text(), own(iv->planLoss() - after_swap));        // this step
  EXPECT_EQ(history->item(2, 4)->text(), own(iv->planLoss() - iv->intactLoss()));  // total
  // Undo (Ctrl+Z) takes back the last change: the intact model again.
  auto* undo = iv->findChild<QPushButton*>("button_undo");
  ASSERT_NE(undo, nullptr);
  EXPECT_EQ(undo->shortcut(), QKeySequence(QKeySequence::Undo));
  undo->click();
  ASSERT_TRUE(wait_until([&] { return iv->historyRows() == 4; }, 60000));
  EXPECT_EQ(iv->planText(), "(none)");
  EXPECT_DOUBLE_EQ(iv->planLoss(), iv->intactLoss());
  EXPECT_TRUE(strip->tileLabel(2).isEmpty());
  // Skip 1 again, for the screenshot below.
  iv->findChild<QPushButton*>("button_skip")->click();
  QTest::mouseClick(strip, Qt::LeftButton, {}, strip->tileRect(1).center().toPoint());
  ASSERT_TRUE(wait_until([&] { return iv->historyRows() == 5; }, 60000));
  EXPECT_EQ(iv->planText(), "skip 1");
  EXPECT_NEAR(iv->planLoss(), after_skip, 1e-9);  // the same plan, the same loss

  // Analyze: the worker computes and stores the analyses; the tiles take the
  // usefulness colours and the heatmaps get the checkpoint.
  const QColor grey = strip->tileColor(0);
  int64_t analysed = -1;
  QObject::connect(iv, &InterventionsPanel::analysisLoaded, [&](int64_t s) { analysed = s; });
  iv->findChild<QPushButton*>("button_analyze")->click();
  ASSERT_TRUE(wait_until([&] { return analysed >= 0; }, 180000));
  EXPECT_EQ(analysed, 80);
  EXPECT_EQ(w.model()->analyses().count(80), 1u);
  EXPECT_NE(strip->tileColor(0), grey);
  EXPECT_TRUE(std::filesystem::exists(dir / "runs" / "gui-e2e" / "analysis" / "step-80.h5"));
  if (!shots.isEmpty()) {
    ASSERT_TRUE(gui::screenshot_dock(iv_dock, shots + "/interventions.png"));
    ASSERT_TRUE(
        gui::screenshot_dock(dock_named(w, "dock_dashboard"), shots + "/dashboard-live.png"));
  }

  // The window as a PNG.
  const QString png = QString::fromStdString((dir / "window.png").string());
  ASSERT_TRUE(w.grab().save(png));
  const QImage saved(png);
  EXPECT_EQ(saved.width(), w.width());
  EXPECT_GT(saved.height(), 500);
  if (!shots.isEmpty()) ASSERT_TRUE(w.grab().save(shots + "/window-live.png"));
}

// A real local worker (dlab serve) and a client for it. Panels are made on
// `worker` before start(), so they see its `connected` (server_info).
struct LocalSession {
  client::LocalWorker local;
  client::WorkerClient worker;
  LocalSession() {
    qputenv("DEPTHLAB_DLAB", DEPTHLAB_DLAB_BINARY);
    QObject::connect(&local, &client::LocalWorker::ready,
                     [this](const QUrl& u, const QString& t) { worker.connectTo(u, t); });
  }
  // Starts the worker on dir/runs; true once connected.
  bool start(const std::filesystem::path& dir) {
    local.start(client::dlab_binary_find(), QString::fromStdString((dir / "runs").string()));
    return wait_until([&] { return worker.state() == WorkerClient::State::Connected; }, 60000);
  }
};

// A sweep from the launcher: one run per value, named as `dlab train --sweep`
// names them, each started when the previous one has ended.
TEST(GuiE2E, LauncherSweepRunsOneAfterAnother) {
  const std::filesystem::path dir = gui_test_dir("sweep");
  LocalSession session;
  client::WorkerClient& worker = session.worker;
  LaunchPanel launch(&worker);
  std::vector<QString> started;
  std::map<QString, QString> states;
  std::vector<client::Sweep> snapshots;  // every sweep_state, in arrival order
  QObject::connect(
      &launch, &LaunchPanel::runStarted,
      [&](const QString& run, const QString&, const QJsonObject&) { started.push_back(run); });
  QObject::connect(&worker, &WorkerClient::runState,
                   [&](const QString& run, const client::RunState& s) { states[run] = s.state; });
  QObject::connect(&worker, &WorkerClient::sweepState,
                   [&](const client::Sweep& s) { snapshots.push_back(s); });
  ASSERT_TRUE(session.start(dir));

  ASSERT_TRUE(launch.loadPreset("tiny"));
  ASSERT_TRUE(launch.setField("run.name", "sw"));
  ASSERT_TRUE(launch.setField("train.steps", "15"));
  launch.setSweep("model.n_layers", "1,3");
  launch.launch();
  ASSERT_TRUE(wait_until(
      [&] { return states["sw-n_layers1"] == "finished" && states["sw-n_layers3"] == "finished"; },
      120000))
      << launch.message().toStdString();
  ASSERT_EQ(started, (std::vector<QString>{"sw-n_layers1", "sw-n_layers3"}));
  // The worker started the second run only after the first one finished:
  // in every state of the sweep it sent, the second has a run only once the
  // first has finished.
  ASSERT_FALSE(snapshots.empty());
  for (const client::Sweep& s : snapshots) {
    ASSERT_EQ(s.members.size(), 2u);
    if (!s.members[1].run.isEmpty()) EXPECT_EQ(s.members[0].state, "finished");
  }
  EXPECT_EQ(snapshots.back().state, "finished");
  EXPECT_EQ(RunReader::open(dir / "runs" / "sw-n_layers3" / "run.h5").read("resid_var").width, 3);
  // A finished run has no ETA, and nothing to pause, resume or stop.
  auto* table = launch.findChild<QTableWidget*>("table_runs");
  ASSERT_NE(table, nullptr);
  int row = -1;
  for (int r = 0; r < table->rowCount(); ++r)
    if (table->item(r, 0)->text() == "sw-n_layers1") row = r;
  ASSERT_GE(row, 0);
  table->selectRow(row);
  EXPECT_EQ(table->item(row, 1)->text(), "finished");
  EXPECT_TRUE(table->item(row, 5)->text().isEmpty()) << table->item(row, 5)->text().toStdString();
  for (const char* name : {"button_pause", "button_resume", "button_stop"})
    EXPECT_FALSE(launch.findChild<QPushButton*>(name)->isEnabled()) << name;
  // The sweep was the worker's: its table row says both runs have ended.
  auto* sweeps = launch.findChild<QTableWidget*>("table_sweeps");
  ASSERT_NE(sweeps, nullptr);
  ASSERT_TRUE(wait_until(
      [&] { return sweeps->rowCount() == 1 && sweeps->item(0, 3)->text() == "finished"; }, 20000));
  EXPECT_EQ(sweeps->item(0, 1)->text(), "model.n_layers");
  EXPECT_EQ(sweeps->item(0, 2)->text(), "2 / 2");
}

// After a restart the worker did not start the runs in its folder: the table
// still shows where each stood (summary.json), not a bare "stored".
TEST(GuiE2E, RunsFromBeforeTheWorkerStartedShowTheirStateStepAndLoss) {
  const std::filesystem::path dir = gui_test_dir("stored-runs");
  QProcess train;
  train.start(DEPTHLAB_DLAB_BINARY,
              {"train", "--preset", "tiny", "--set", "train.steps=6", "--set", "run.name=old",
               "--set", QString::fromStdString("run.dir=" + (dir / "runs").string())});
  ASSERT_TRUE(train.waitForFinished(120000));
  ASSERT_EQ(train.exitCode(), 0) << train.readAllStandardError().toStdString();
  LocalSession session;
  LaunchPanel launch(&session.worker);
  ASSERT_TRUE(session.start(dir));
  auto* table = launch.findChild<QTableWidget*>("table_runs");
  ASSERT_TRUE(wait_until([&] { return table->rowCount() == 1; }, 20000));
  EXPECT_EQ(table->item(0, 0)->text(), "old");
  EXPECT_EQ(table->item(0, 1)->text(), "finished");
  EXPECT_TRUE(table->item(0, 1)->toolTip().contains("Not started by this worker"));
  EXPECT_EQ(table->item(0, 2)->text(), "6 / 6");
  bool number = false;
  table->item(0, 3)->text().toDouble(&number);
  EXPECT_TRUE(number) << table->item(0, 3)->text().toStdString();
  // Continue is offered for it, pause/resume/stop are not.
  table->selectRow(0);
  // The line under the progress bar says where it stood, not "no progress yet".
  const QList<QLabel*> labels = launch.findChildren<QLabel*>();
  bool said = false;
  for (QLabel* l : labels) said = said || l->text() == "old  step 6 / 6  -  finished";
  EXPECT_TRUE(said);
  EXPECT_TRUE(launch.findChild<QPushButton*>("button_continue")->isEnabled());
  EXPECT_FALSE(launch.findChild<QPushButton*>("button_stop")->isEnabled());
}

// A sweep queued from the launcher belongs to the worker: the window closes
// (its client and panel go) after the first run started, and a new window on
// the same worker lists the sweep, which finishes every run; Cancel on a
// second sweep drops its queued runs.
TEST(GuiE2E, ASweepGoesOnWhenTheWindowClosesAndIsListedByTheNextOne) {
  const std::filesystem::path dir = gui_test_dir("sweep-survives");
  client::LocalWorker local;  // stands for a remote worker: it outlives the windows
  ASSERT_TRUE(worker_listening(local, dir / "runs"));
  const QUrl url = local.url();
  const QString token = local.token();
  {
    client::WorkerClient worker;
    LaunchPanel launch(&worker);
    worker.connectTo(url, token);
    ASSERT_TRUE(
        wait_until([&] { return worker.state() == WorkerClient::State::Connected; }, 20000));
    ASSERT_TRUE(launch.loadPreset("tiny"));
    ASSERT_TRUE(launch.setField("run.name", "gone"));
    ASSERT_TRUE(launch.setField("train.steps", "60"));
    launch.setSweep("train.seed", "1,2,3");
    launch.launch();
    ASSERT_TRUE(wait_until([&] { return launch.message().contains("sweep-1"); }, 20000))
        << launch.message().toStdString();
    EXPECT_FALSE(std::filesystem::exists(dir / "runs" / "gone-seed3"));  // far from done
  }  // the window is closed: its client disconnects
  client::WorkerClient worker;
  LaunchPanel launch(&worker);
  worker.connectTo(url, token);
  auto* sweeps = launch.findChild<QTableWidget*>("table_sweeps");
  auto* runs = launch.findChild<QTableWidget*>("table_runs");
  ASSERT_NE(sweeps, nullptr);
  ASSERT_TRUE(wait_until(
      [&] { return sweeps->rowCount() == 1 && sweeps->item(0, 3)->text() == "finished"; }, 120000))
      << (sweeps->rowCount() ? sweeps->item(0, 2)->text().toStdString() : std::string("no row"));
  EXPECT_EQ(sweeps->item(0, 0)->text(), "sweep-1");
  EXPECT_EQ(sweeps->item(0, 2)->text(), "3 / 3");
  EXPECT_TRUE(sweeps->item(0, 0)->toolTip().contains("gone-seed3  finished"))
      << sweeps->item(0, 0)->toolTip().toStdString();
  for (const char* name : {"gone-seed1", "gone-seed2", "gone-seed3"}) {
    EXPECT_EQ(RunReader::open(dir / "runs" / name / "run.h5").status(), "finished") << name;
    bool listed = false;
    for (int r = 0; r < runs->rowCount(); ++r) listed = listed || runs->item(r, 0)->text() == name;
    EXPECT_TRUE(listed) << name;
  }

  {  // A window that comes after the sweep ended shows each run's step and loss
     // (summary.json: it follows none of them live).
    client::WorkerClient third;
    LaunchPanel later(&third);
    third.connectTo(url, token);
    auto* table = later.findChild<QTableWidget*>("table_runs");
    ASSERT_TRUE(wait_until([&] { return table->rowCount() == 3; }, 20000));
    for (int r = 0; r < 3; ++r) {
      EXPECT_EQ(table->item(r, 1)->text(), "finished");
      EXPECT_EQ(table->item(r, 2)->text(), "60 / 60");
      EXPECT_FALSE(table->item(r, 3)->text().isEmpty()) << table->item(r, 0)->text().toStdString();
    }
  }

  // Cancel: a long sweep's queued runs never start.
  ASSERT_TRUE(launch.loadPreset("tiny"));
  ASSERT_TRUE(launch.setField("run.name", "long"));
  ASSERT_TRUE(launch.setField("train.steps", "1000000"));
  launch.setSweep("train.seed", "1,2");
  launch.launch();
  ASSERT_TRUE(wait_until([&] { return sweeps->rowCount() == 2; }, 20000))
      << launch.message().toStdString();
  sweeps->selectRow(1);
  auto* cancel = launch.findChild<QPushButton*>("button_cancel_sweep");
  ASSERT_TRUE(cancel->isEnabled());
  QTest::mouseClick(cancel, Qt::LeftButton);
  ASSERT_TRUE(wait_until([&] { return sweeps->item(1, 3)->text() == "cancelled"; }, 60000))
      << launch.message().toStdString();
  EXPECT_FALSE(cancel->isEnabled());
  EXPECT_FALSE(std::filesystem::exists(dir / "runs" / "long-seed2"));
}

// The launcher's ranks box is sent with the run (it was once shown and never
// sent): a 2-rank run starts, trains and is listed with its 2 ranks.
TEST(GuiE2E, LauncherStartsARunWithTheRanksItShows) {
  const std::filesystem::path dir = gui_test_dir("ranks");
  LocalSession session;
  client::WorkerClient& worker = session.worker;
  LaunchPanel launch(&worker);
  std::map<QString, QString> states;
  QObject::connect(&worker, &WorkerClient::runState,
                   [&](const QString& run, const client::RunState& s) { states[run] = s.state; });
  ASSERT_TRUE(session.start(dir));
  ASSERT_TRUE(launch.loadPreset("tiny"));
  ASSERT_TRUE(launch.setField("run.name", "rk"));
  ASSERT_TRUE(launch.setField("train.steps", "10"));
  // The worker's message under a field goes once the config is edited, also
  // when the fix is in another field (n_heads must divide d_model).
  const QString heads = launch.field("model.n_heads"), width = launch.field("model.d_model");
  ASSERT_TRUE(launch.setField("model.n_heads", "3"));
  launch.launch();
  ASSERT_TRUE(wait_until([&] { return !launch.fieldError("model.n_heads").isEmpty(); }, 20000))
      << launch.message().toStdString();
  ASSERT_TRUE(launch.setField("model.d_model", "48"));
  EXPECT_TRUE(launch.fieldError("model.n_heads").isEmpty())
      << "stale: " << launch.fieldError("model.n_heads").toStdString();
  ASSERT_TRUE(launch.setField("model.n_heads", heads));
  ASSERT_TRUE(launch.setField("model.d_model", width));
  auto* ranks = launch.findChild<QSpinBox*>("spin_ranks");
  ASSERT_NE(ranks, nullptr);
  ranks->setValue(2);
  launch.launch();
  ASSERT_TRUE(wait_until([&] { return states["rk"] == "finished"; }, 120000))
      << launch.message().toStdString() << " / " << states["rk"].toStdString();
  std::optional<client::Reply<std::vector<client::RunEntry>>> runs;
  worker.listRuns(nullptr, [&](const auto& r) { runs = r; });
  ASSERT_TRUE(wait_until([&] { return runs.has_value(); }, 20000));
  const client::RunEntry* e = client::run_find(runs->value, "rk");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->ranks, 2);
}

// The run table belongs to the connected worker: after switching workers it
// lists only the new worker's runs, says which worker it is, and switching
// back brings the first worker's runs back (and not the second's).
TEST(GuiE2E, TheRunTableFollowsTheConnectedWorker) {
  const std::filesystem::path dir = gui_test_dir("two-workers");
  write_run(dir / "a" / "runs" / "alpha", 2, 5, false);
  write_run(dir / "b" / "runs" / "beta", 2, 5, false);
  client::LocalWorker a, b;
  ASSERT_TRUE(worker_listening(a, dir / "a" / "runs"));
  ASSERT_TRUE(worker_listening(b, dir / "b" / "runs"));
  const QUrl url_a = a.url(), url_b = b.url();
  const QString token_a = a.token(), token_b = b.token();
  client::WorkerClient worker;
  LaunchPanel launch(&worker);
  auto* table = launch.findChild<QTableWidget*>("table_runs");
  auto* label = launch.findChild<QLabel*>("label_runs_worker");
  ASSERT_NE(table, nullptr);
  ASSERT_NE(label, nullptr);
  auto listed = [&] {
    QStringList names;
    for (int r = 0; r < table->rowCount(); ++r) names << table->item(r, 0)->text();
    return names;
  };
  worker.connectTo(url_a, token_a);
  ASSERT_TRUE(wait_until([&] { return listed() == QStringList{"alpha"}; }, 20000))
      << listed().join(",").toStdString();
  EXPECT_TRUE(label->text().contains(url_a.toString())) << label->text().toStdString();
  worker.connectTo(url_b, token_b);
  ASSERT_TRUE(wait_until([&] { return listed() == QStringList{"beta"}; }, 20000))
      << listed().join(",").toStdString();
  EXPECT_TRUE(label->text().contains(url_b.toString())) << label->text().toStdString();
  worker.connectTo(url_a, token_a);
  ASSERT_TRUE(wait_until([&] { return listed() == QStringList{"alpha"}; }, 20000))
      << listed().join(",").toStdString();
}

// A run opened from the local worker's folder is "on the worker"; after
// switching to another worker the same open run says "offline" (it said
// "on the worker" of the old one until the next open).
TEST(GuiE2E, TheOpenRunSaysOfflineOnceAnotherWorkerIsConnected) {
  const std::filesystem::path dir = gui_test_dir("origin-switch");
  write_run(dir / "runs" / "mine", 2, 5, false);
  MainWindow w;
  w.show();
  ASSERT_EQ(local_worker_connect(w, dir), "");
  QSignalSpy loaded(&w, &MainWindow::runLoaded);
  w.openRun(QString::fromStdString((dir / "runs" / "mine").string()));
  ASSERT_TRUE(wait_until([&] { return loaded.count() == 1; }, 20000));
  auto* label = w.findChild<QLabel*>("label_run");
  EXPECT_TRUE(label->text().contains("on the worker")) << label->text().toStdString();
  client::LocalWorker other;
  ASSERT_TRUE(worker_listening(other, dir / "elsewhere"));
  w.connectWorker(other.url(), other.token());
  ASSERT_TRUE(wait_until([&] { return label->text().contains("offline, from disk"); }, 20000))
      << label->text().toStdString();
  EXPECT_TRUE(w.windowTitle().contains("(offline)")) << w.windowTitle().toStdString();
}

// The launcher offers the connected worker's devices (server_info) as a list
// with their memory, and a device that worker cannot use comes back as an
// error under run.device, with nothing started (docs/gpu.md).
TEST(GuiE2E, LauncherOffersTheWorkersDevicesAndShowsADeviceErrorUnderTheField) {
  const std::filesystem::path dir = gui_test_dir("devices");
  LocalSession session;
  client::WorkerClient& worker = session.worker;
  LaunchPanel launch(&worker);
  bool started = false;
  QObject::connect(&launch, &LaunchPanel::runStarted,
                   [&](const QString&, const QString&, const QJsonObject&) { started = true; });
  ASSERT_TRUE(session.start(dir));

  auto* devices = launch.findChild<QComboBox*>("edit_run_device");
  ASSERT_NE(devices, nullptr);
  ASSERT_GE(devices->count(), 2);
  EXPECT_EQ(devices->itemData(0).toString(), "auto");
  EXPECT_EQ(devices->itemData(1).toString(), "cpu");
  EXPECT_TRUE(devices->itemText(1).contains("GiB")) << devices->itemText(1).toStdString();
  bool cuda_usable = false;
  const std::vector<client::Device>& listed = worker.serverInfo().devices;
  EXPECT_EQ(size_t(devices->count()), listed.size() + 1);  // auto, then every device sent
  for (const client::Device& d : listed)
    cuda_usable = cuda_usable || (d.kind == "cuda" && d.usable);
  ASSERT_TRUE(launch.loadPreset("tiny"));
  EXPECT_EQ(launch.field("run.device"), "auto");
  ASSERT_TRUE(launch.setField("run.device", "cpu"));
  EXPECT_EQ(launch.field("run.device"), "cpu");
  if (cuda_usable) GTEST_SKIP() << "a usable GPU is visible; the refusal is for machines without";

  // A preset or a typed value naming a GPU this worker lacks is kept, then refused by it.
  ASSERT_TRUE(launch.setField("run.device", "cuda:1"));
  EXPECT_EQ(launch.field("run.device"), "cuda:1");
  EXPECT_TRUE(devices->currentText().contains("not on this worker"));
  ASSERT_TRUE(launch.setField("run.name", "dev"));
  launch.launch();
  ASSERT_TRUE(wait_until([&] { return !launch.fieldError("run.device").isEmpty(); }, 20000))
      << launch.message().toStdString();
  EXPECT_TRUE(launch.fieldError("run.device").contains("cannot be used"))
      << launch.fieldError("run.device").toStdString();
  EXPECT_FALSE(started);
}

// The local worker dies: the window says so (with the reason) and stops
// retrying its address.
TEST(GuiE2E, ALostLocalWorkerIsReportedNotRetried) {
  const std::filesystem::path dir = gui_test_dir("lost-worker");
  MainWindow w;
  ASSERT_EQ(local_worker_connect(w, dir), "");
  QString failure;
  QObject::connect(&w, &MainWindow::workerFailed, [&](const QString& m) { failure = m; });
  ASSERT_GT(w.localWorker()->pid(), 0);
  ::kill(pid_t(w.localWorker()->pid()), SIGKILL);
  ASSERT_TRUE(wait_until([&] { return !failure.isEmpty(); }, 20000));
  EXPECT_TRUE(failure.contains("crashed")) << failure.toStdString();
  EXPECT_EQ(w.worker()->state(), WorkerClient::State::Disconnected);
  QTest::qWait(1500);
  EXPECT_EQ(w.worker()->state(), WorkerClient::State::Disconnected) << "it kept reconnecting";
}

// Launcher > Continue: a finished run trains on to the step given, in its own
// directory; the dashboard shows its whole history (from run.h5) and the
// continued steps live, each step once.
TEST(GuiE2E, AFinishedRunIsContinuedFromTheLauncher) {
  const std::filesystem::path dir = gui_test_dir("continue");
  MainWindow w;
  w.show();
  ASSERT_EQ(local_worker_connect(w, dir), "");
  LaunchPanel* launch = w.launcher();
  ASSERT_TRUE(launch->loadPreset("tiny"));
  ASSERT_TRUE(launch->setField("run.name", "more"));
  ASSERT_TRUE(launch->setField("train.steps", "12"));
  ASSERT_TRUE(launch->setField("train.checkpoint_every", "6"));
  launch->launch();
  ASSERT_TRUE(wait_until([&] { return w.watchedRun() == "more"; }, 30000))
      << launch->message().toStdString();
  ASSERT_TRUE(wait_until([&] { return w.model()->status() == "finished"; }, 120000));

  auto* table = launch->findChild<QTableWidget*>("table_runs");
  auto* button = launch->findChild<QPushButton*>("button_continue");
  auto* steps = launch->findChild<QSpinBox*>("spin_continue_steps");
  ASSERT_NE(table, nullptr);
  ASSERT_NE(button, nullptr);
  ASSERT_NE(steps, nullptr);
  auto row_state = [&] {
    for (int r = 0; r < table->rowCount(); ++r)
      if (table->item(r, 0)->text() == "more") return table->item(r, 1)->text();
    return QString();
  };
  ASSERT_TRUE(wait_until([&] { return row_state() == "finished"; }, 20000));
  for (int r = 0; r < table->rowCount(); ++r)
    if (table->item(r, 0)->text() == "more") table->selectRow(r);
  ASSERT_TRUE(button->isEnabled()) << "Continue is not offered for a finished run";
  EXPECT_EQ(steps->value(), 24) << "the default is twice as far as the run got";
  steps->setValue(20);
  // The continued steps stream on; the earlier ones are read from run.h5, so
  // no "older than the replay buffer" notice (re-subscribing from 1 gave one).
  QSignalSpy notices(w.worker(), &WorkerClient::streamNotice);
  QTest::mouseClick(button, Qt::LeftButton);
  ASSERT_TRUE(
      wait_until([&] { return row_state() == "running" || row_state() == "finished"; }, 20000));
  EXPECT_TRUE(launch->message().contains("Continuing more to step 20"))
      << launch->message().toStdString();
  ASSERT_TRUE(wait_until(
      [&] {
        const auto* s = w.model()->series("loss");
        return w.watchedRun() == "more" && s && !s->steps.empty() && s->steps.back() == 20;
      },
      120000))
      << launch->message().toStdString();
  // The whole run, each step once: 1..12 from the file, 13..20 live.
  const auto* loss = w.model()->series("loss");
  ASSERT_EQ(loss->rows(), 20);
  for (int64_t k = 0; k < loss->rows(); ++k) EXPECT_EQ(loss->steps[size_t(k)], k + 1);
  ASSERT_TRUE(wait_until([&] { return w.model()->status() == "finished"; }, 60000));
  EXPECT_EQ(notices.count(), 0) << notices.value(0).value(1).toString().toStdString();
  EXPECT_TRUE(std::filesystem::exists(dir / "runs" / "more" / "checkpoints" / "step-20.h5"));
  EXPECT_FALSE(std::filesystem::exists(dir / "runs" / "more-2")) << "continue made a new run";
  // A run of the connected worker is not marked offline, live or opened again.
  auto* label = w.findChild<QLabel*>("label_run");
  ASSERT_NE(label, nullptr);
  EXPECT_TRUE(label->text().contains("on the worker ws://127.0.0.1:"))
      << label->text().toStdString();
  QSignalSpy loaded(&w, &MainWindow::runLoaded);
  w.openRun(QString::fromStdString((dir / "runs" / "more").string()));
  ASSERT_TRUE(wait_until([&] { return loaded.count() == 1; }, 20000));
  EXPECT_TRUE(label->text().contains("on the worker")) << label->text().toStdString();
  EXPECT_FALSE(w.windowTitle().contains("offline")) << w.windowTitle().toStdString();
}

// File > Connect to worker with a wrong token keeps the dialog open with the
// worker's reason (and the client no longer retries); the right token then
// connects and closes it. An address nobody listens on is reported the same way.
TEST(GuiE2E, AWrongTokenKeepsTheConnectDialogOpenWithTheReason) {
  const std::filesystem::path dir = gui_test_dir("connect-dialog");
  std::filesystem::create_directories(dir / "runs");
  client::LocalWorker server;
  ASSERT_TRUE(worker_listening(server, dir / "runs"));
  const QUrl url = server.url();
  const QString token = server.token();

  WorkerClient worker;
  gui::ConnectDialog dialog(&worker);
  dialog.show();
  auto* connect_button = dialog.findChild<QPushButton*>("button_connect");
  ASSERT_NE(connect_button, nullptr);
  auto tried = [&] { return connect_button->isEnabled() && !dialog.errorText().isEmpty(); };

  dialog.setUrl(url.toString());
  dialog.setToken("not-the-token");
  QTest::mouseClick(connect_button, Qt::LeftButton);
  ASSERT_TRUE(wait_until([&] { return tried() && dialog.attemptFailed(); }, 20000))
      << dialog.errorText().toStdString();
  EXPECT_TRUE(dialog.isVisible());
  EXPECT_TRUE(dialog.errorText().contains("refused")) << dialog.errorText().toStdString();
  EXPECT_EQ(worker.state(), WorkerClient::State::Disconnected);
  QTest::qWait(1500);
  EXPECT_EQ(worker.state(), WorkerClient::State::Disconnected) << "it kept retrying";

  dialog.setUrl("ws://127.0.0.1:1");  // nobody listens there
  QTest::mouseClick(connect_button, Qt::LeftButton);
  ASSERT_TRUE(wait_until([&] { return tried() && dialog.attemptFailed(); }, 20000));
  EXPECT_TRUE(dialog.isVisible());
  EXPECT_TRUE(dialog.errorText().startsWith("Could not connect: "))
      << dialog.errorText().toStdString();
  EXPECT_EQ(worker.state(), WorkerClient::State::Disconnected);

  dialog.setUrl(url.toString());
  dialog.setToken(token);
  QTest::mouseClick(connect_button, Qt::LeftButton);
  ASSERT_TRUE(wait_until([&] { return !dialog.isVisible(); }, 20000))
      << dialog.errorText().toStdString();
  EXPECT_EQ(dialog.result(), QDialog::Accepted);
  EXPECT_EQ(worker.state(), WorkerClient::State::Connected);
  EXPECT_FALSE(dialog.attemptFailed());
}

// wss:// with a self-signed certificate: the Connect dialog stays open with
// its SHA-256 fingerprint (the one openssl prints for the worker's file) and
// a Trust button; trusting pins it for that address (saved), connects, and a
// later client that loads the saved trust connects at once. Another
// certificate at the same address is refused again.
TEST(GuiE2E, ASelfSignedWorkerIsTrustedByItsFingerprintFromTheConnectDialog) {
  const std::filesystem::path dir = gui_test_dir("tls-trust");
  std::filesystem::create_directories(dir / "runs");
  const QString key = QString::fromStdString((dir / "key.pem").string());
  const QString cert = QString::fromStdString((dir / "cert.pem").string());
  QProcess openssl;
  openssl.start("openssl", {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
                            cert, "-days", "2", "-subj", "/CN=depthlab-test-worker"});
  if (!openssl.waitForFinished(60000) || openssl.exitCode() != 0)
    GTEST_SKIP() << "openssl could not make a test certificate";
  QProcess print;
  print.start("openssl", {"x509", "-noout", "-fingerprint", "-sha256", "-in", cert});
  ASSERT_TRUE(print.waitForFinished(20000));
  // "sha256 Fingerprint=AB:CD:..." (the label's case varies between versions)
  const QString expected =
      QString::fromLatin1(print.readAllStandardOutput()).trimmed().section('=', 1);
  ASSERT_EQ(expected.size(), 95) << expected.toStdString();

  QProcess serve;
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
  env.insert("DLAB_TLS_TEST_TOKEN", "tls-token");
  serve.setProcessEnvironment(env);
  serve.start(
      DEPTHLAB_DLAB_BINARY,
      {"serve", "--listen", "127.0.0.1:0", "--token-env", "DLAB_TLS_TEST_TOKEN", "--runs",
       QString::fromStdString((dir / "runs").string()), "--tls-cert", cert, "--tls-key", key});
  QString url;
  ASSERT_TRUE(wait_until(
      [&] {
        while (serve.canReadLine()) {
          const QString line = QString::fromUtf8(serve.readLine()).trimmed();
          if (line.startsWith("dlab serve: listening on ")) url = line.section(' ', 4);
        }
        return !url.isEmpty();
      },
      60000))
      << serve.readAllStandardError().toStdString();
  ASSERT_TRUE(url.startsWith("wss://")) << url.toStdString();
  QSettings().remove("trusted_certificates");

  WorkerClient worker;
  gui::ConnectDialog dialog(&worker);
  dialog.show();
  auto* connect_button = dialog.findChild<QPushButton*>("button_connect");
  auto* trust = dialog.findChild<QPushButton*>("button_trust_certificate");
  ASSERT_NE(trust, nullptr);
  EXPECT_FALSE(trust->isVisible());
  dialog.setUrl(url);
  dialog.setToken("tls-token");
  QTest::mouseClick(connect_button, Qt::LeftButton);
  ASSERT_TRUE(wait_until([&] { return dialog.attemptFailed() && trust->isVisible(); }, 20000))
      << dialog.errorText().toStdString();
  EXPECT_TRUE(dialog.isVisible());
  EXPECT_TRUE(dialog.errorText().contains(expected)) << dialog.errorText().toStdString();
  EXPECT_TRUE(dialog.errorText().contains("depthlab-test-worker"))
      << dialog.errorText().toStdString();
  QTest::qWait(1200);
  EXPECT_EQ(worker.state(), WorkerClient::State::Disconnected) << "it kept retrying";

  QTest::mouseClick(trust, Qt::LeftButton);
  ASSERT_TRUE(wait_until([&] { return !dialog.isVisible(); }, 20000))
      << dialog.errorText().toStdString();
  EXPECT_EQ(worker.state(), WorkerClient::State::Connected);
  const QString host_port = QUrl(url).host() + ":" + QString::number(QUrl(url).port());
  EXPECT_EQ(QSettings().value("trusted_certificates/" + host_port).toString().toUpper(),
            QString(expected).remove(':'));

  // The next window's client loads the trust and connects without asking.
  WorkerClient later;
  gui::ConnectDialog::loadTrustedCertificates(&later);
  later.connectTo(QUrl(url), "tls-token");
  ASSERT_TRUE(wait_until([&] { return later.state() == WorkerClient::State::Connected; }, 20000));
  // A different pinned certificate for that address is not this one: refused.
  WorkerClient other;
  QSignalSpy asked(&other, &WorkerClient::untrustedCertificate);
  other.trustCertificate(host_port, QByteArray(32, 'x'));
  other.connectTo(QUrl(url), "tls-token");
  ASSERT_TRUE(wait_until([&] { return asked.count() == 1; }, 20000));
  EXPECT_NE(other.state(), WorkerClient::State::Connected);
  QSettings().remove("trusted_certificates");
  serve.terminate();
  serve.waitForFinished(20000);
}

// The local worker ends with the app however the app ends: SIGTERM closes the
// window as Quit does (the worker stops, the app exits 0), and after SIGKILL,
// which nothing in the app can catch, the kernel stops the worker
// (PR_SET_PDEATHSIG). A killed GUI once left its worker training on.
TEST(GuiE2E, TheLocalWorkerEndsWithTheAppEvenWhenTheAppIsKilled) {
  const std::filesystem::path dir = gui_test_dir("app-killed");
  // The `dlab serve` child of process `app`, or 0 (state Z counts as gone).
  auto worker_of = [](qint64 app) -> qint64 {
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      const std::string pid = e.path().filename().string();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream stat(e.path() / "stat");
      std::string line;
      std::getline(stat, line);
      const size_t close = line.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream rest(line.substr(close + 2));
      char state = 0;
      qint64 ppid = 0;
      rest >> state >> ppid;
      if (ppid == app && state != 'Z') return std::stoll(pid);
    }
    return 0;
  };
  auto alive = [](qint64 pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return false;
    const size_t close = line.rfind(')');
    return close != std::string::npos && line.size() > close + 2 && line[close + 2] != 'Z';
  };
  for (const int sig : {SIGTERM, SIGKILL}) {
    QProcess app;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("QT_QPA_PLATFORM", "offscreen");
    env.insert("DEPTHLAB_DLAB", DEPTHLAB_DLAB_BINARY);
    app.setProcessEnvironment(env);
    app.start(DEPTHLAB_GUI_BINARY,
              {"--runs", QString::fromStdString((dir / ("runs-" + std::to_string(sig))).string())});
    ASSERT_TRUE(app.waitForStarted(20000));
    qint64 worker = 0;
    ASSERT_TRUE(wait_until([&] { return (worker = worker_of(app.processId())) != 0; }, 60000))
        << "signal " << sig << ": no worker started";
    QTest::qWait(1000);  // the worker listens and the window has connected
    ::kill(pid_t(app.processId()), sig);
    ASSERT_TRUE(app.waitForFinished(30000)) << "signal " << sig;
    if (sig == SIGTERM) {
      EXPECT_EQ(app.exitStatus(), QProcess::NormalExit);
      EXPECT_EQ(app.exitCode(), 0);
    }
    EXPECT_TRUE(wait_until([&] { return !alive(worker); }, 30000))
        << "signal " << sig << ": the worker " << worker << " outlived the app";
    if (alive(worker)) ::kill(pid_t(worker), SIGKILL);
  }
}

}  // namespace
}  // namespace dlab::test
