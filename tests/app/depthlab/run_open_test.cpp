// Offline mode on real run directories written with the store library.
#include <gtest/gtest.h>

#include <QDir>
#include <QDockWidget>
#include <QLabel>
#include <QSignalSpy>

#include "analysis_panel.h"
#include "compare_panel.h"
#include "dashboard_panel.h"
#include "gui_test_util.h"
#include "main_window.h"
#include "run_load.h"
#include "views/bar_chart_widget.h"
#include "views/heatmap_widget.h"
#include "views/layer_strip_widget.h"
#include "views/plot_frame.h"

namespace dlab::gui {
namespace {

using dlab::test::gui_test_dir;
using dlab::test::wait_until;
using dlab::test::write_run;

TEST(RunOpen, LoadsEverySeriesAndAnalysis) {
  const auto dir = write_run(gui_test_dir("load") / "r", /*n_layers=*/3, /*steps=*/20,
                             /*with_analysis=*/true);
  const LoadedRun run = run_load(QString::fromStdString(dir.string()));
  ASSERT_TRUE(run.error.isEmpty()) << run.error.toStdString();
  EXPECT_EQ(run.name, "r");
  EXPECT_EQ(run.status, "finished");
  EXPECT_EQ(run.series.size(), 8u);
  ASSERT_EQ(run.analyses.size(), 1u);
  EXPECT_EQ(run.analyses.begin()->first, 20);
}

TEST(RunOpen, ANonRunDirectoryGivesAClearError) {
  const auto dir = gui_test_dir("notarun");
  const LoadedRun run = run_load(QString::fromStdString(dir.string()));
  EXPECT_TRUE(run.error.contains("has no run.h5")) << run.error.toStdString();
}

TEST(RunOpen, MainWindowShowsTheRunInEveryPanel) {
  const auto dir = write_run(gui_test_dir("window") / "run-a", 4, 30, true);
  MainWindow w;
  w.resize(1200, 800);
  w.show();
  QSignalSpy loaded(&w, &MainWindow::runLoaded);
  w.openRun(QString::fromStdString(dir.string()));
  ASSERT_TRUE(wait_until([&] { return loaded.count() == 1; }));
  // Opened from disk with no worker: marked offline in the status bar and title.
  auto* label = w.findChild<QLabel*>("label_run");
  ASSERT_NE(label, nullptr);
  EXPECT_TRUE(label->text().contains("offline, from disk")) << label->text().toStdString();
  EXPECT_TRUE(w.windowTitle().endsWith("(offline)")) << w.windowTitle().toStdString();
  w.dashboard()->refreshNow();
  auto* per_layer = w.dashboard()->chart("chart_resid_var");
  ASSERT_EQ(per_layer->lineCount(), 4);
  EXPECT_EQ(per_layer->lineY(1)[9], 2.0 * 11);  // (l + 1) * (1 + step), step 10
  auto* loss = w.dashboard()->chart("chart_loss");
  ASSERT_EQ(loss->lineCount(), 2);  // train and validation
  EXPECT_EQ(loss->lineX(1).size(), 6u);
  // Heatmaps panel: Jacobian of block 2 (4 x 4), usefulness bars with tau.
  auto* jac = w.analysis()->findChild<views::HeatmapWidget*>("heat_jacobian");
  w.analysis()->selectLayer(2);
  ASSERT_EQ(jac->rows(), 4);
  EXPECT_FLOAT_EQ(float(jac->value(1, 1)), 1.2f);
  EXPECT_NEAR(jac->colourValue(1, 1), 0.2, 1e-6);  // centred on the identity
  auto* causal = w.analysis()->findChild<views::HeatmapWidget*>("heat_causal");
  EXPECT_EQ(causal->rows(), 4);
  EXPECT_NEAR(causal->value(0, 3), 0.6, 1e-12);
  auto* useful = w.analysis()->findChild<views::BarChartWidget*>("bars_usefulness");
  ASSERT_EQ(useful->series().size(), 1u);
  EXPECT_NEAR(useful->series()[0][3], 0.2, 1e-12);
  auto* strip = w.analysis()->findChild<views::LayerStripWidget*>("strip_influence");
  EXPECT_EQ(strip->tileCount(), 4);
  // The opened run joins the comparison.
  ASSERT_TRUE(wait_until([&] { return w.compare()->runCount() == 1; }));
  EXPECT_EQ(w.model()->configValue("model.n_layers"), "4");
}

TEST(RunOpen, ComparisonOverlaysRunsLabelledByAConfigKey) {
  const auto base = gui_test_dir("compare");
  const auto deep = write_run(base / "deep", 6, 12, false);
  const auto shallow = write_run(base / "shallow", 2, 12, false);
  ComparePanel panel;
  panel.resize(900, 500);
  panel.show();
  panel.setSeries("resid_var (last layer)");
  panel.addRun(QString::fromStdString(deep.string()));
  panel.addRun(QString::fromStdString(shallow.string()));
  ASSERT_TRUE(wait_until([&] { return panel.runCount() == 2; }));
  panel.setConfigKey("model.n_layers");
  auto* chart = panel.chart();
  ASSERT_EQ(chart->lineCount(), 2);
  EXPECT_EQ(chart->lineName(0), "n_layers=2");  // sorted by the key's value
  EXPECT_EQ(chart->lineName(1), "n_layers=6");
  EXPECT_EQ(chart->lineY(1).back(), 6.0 * 13);  // last layer of the 6-layer run at step 12
}

// File dialogs start in the runs folder, not the working directory: after
// opening runs/<name>, the open, add-run and every plot's export dialogs
// start in runs/.
TEST(RunOpen, DialogsStartInTheRunsFolder) {
  const auto base = gui_test_dir("dialog-folders");
  const auto run = write_run(base / "runs" / "r", 2, 5, false);
  MainWindow w;
  w.openRun(QString::fromStdString(run.string()));
  ASSERT_TRUE(wait_until([&] { return w.compare()->runCount() == 1; }));
  const QString runs = QString::fromStdString((base / "runs").string());
  EXPECT_EQ(QDir(w.runsFolder()).canonicalPath(), QDir(runs).canonicalPath());
  EXPECT_EQ(QDir(views::PlotFrame::exportDirectory()).canonicalPath(), QDir(runs).canonicalPath());
  EXPECT_EQ(QDir(w.compare()->startDirectory()).canonicalPath(), QDir(runs).canonicalPath());
}

// Two runs of the same depth that differ in width: the lines are told apart
// by the key that differs, not left on n_layers ("n_layers=6" twice).
TEST(RunOpen, ComparisonLabelsByAKeyThatDiffers) {
  const auto base = gui_test_dir("compare-key");
  const auto narrow = write_run(base / "narrow", 6, 12, false, /*d_model=*/4);
  const auto wide = write_run(base / "wide", 6, 12, false, /*d_model=*/8);
  ComparePanel panel;
  panel.resize(900, 500);
  panel.show();
  panel.addRun(QString::fromStdString(narrow.string()));
  ASSERT_TRUE(wait_until([&] { return panel.runCount() == 1; }));
  EXPECT_EQ(panel.configKey(), "model.n_layers");  // one run: nothing differs yet
  panel.addRun(QString::fromStdString(wide.string()));
  ASSERT_TRUE(wait_until([&] { return panel.runCount() == 2; }));
  EXPECT_EQ(panel.configKey(), "model.d_model");
  auto* chart = panel.chart();
  ASSERT_EQ(chart->lineCount(), 2);
  EXPECT_EQ(chart->lineName(0), "d_model=4");
  EXPECT_EQ(chart->lineName(1), "d_model=8");
}

}  // namespace
}  // namespace dlab::gui
