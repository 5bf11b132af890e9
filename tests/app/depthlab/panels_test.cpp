// Every panel constructs, and data fed through the RunModel reaches the right
// chart lines (the same path live telemetry will take).
#include <gtest/gtest.h>

#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QImage>
#include <QJsonDocument>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>
#include <QWheelEvent>
#include <cmath>

#include "analysis_arrays.h"
#include "analysis_panel.h"
#include "browser_panel.h"
#include "compare_panel.h"
#include "dashboard_panel.h"
#include "interventions_panel.h"
#include "launch_panel.h"
#include "main_window.h"
#include "step_heatmap.h"
#include "store/analysis_codec.h"
#include "views/bar_chart_widget.h"
#include "views/heatmap_widget.h"

namespace dlab::gui {
namespace {

using views::ChartWidget;

TEST(Panels, MainWindowBuildsEveryPanelInADock) {
  MainWindow w;
  ASSERT_EQ(w.docks().size(), 6u);
  QStringList names;
  for (QDockWidget* d : w.docks()) {
    ASSERT_NE(d->widget(), nullptr);
    names << d->objectName();
  }
  EXPECT_EQ(names, (QStringList{"dock_dashboard", "dock_heatmaps", "dock_compare", "dock_browser",
                                "dock_launcher", "dock_interventions"}));
  EXPECT_NE(w.dashboard()->chart("chart_loss"), nullptr);
  EXPECT_NE(w.dashboard()->chart("chart_resid_var"), nullptr);
  EXPECT_NE(w.analysis()->findChild<views::HeatmapWidget*>("heat_jacobian"), nullptr);
  EXPECT_NE(w.compare()->chart(), nullptr);
  EXPECT_NE(w.browser()->chart(), nullptr);
  EXPECT_NE(w.launcher()->findChild<QWidget*>("edit_model_n_layers"), nullptr);
  EXPECT_NE(w.interventions()->findChild<QWidget*>("strip_layers"), nullptr);
  w.show();  // paints empty panels without data
}

TEST(Panels, FeedingTheModelUpdatesTheRightSeries) {
  RunModel model;
  DashboardPanel dash(&model);
  model.declareSeries("loss", 1);
  model.declareSeries("resid_var", 4);
  model.declareSeries("resid_var_final_norm", 1);
  model.declareSeries("lr", 1);  // not on the dashboard
  for (int s = 1; s <= 10; ++s) {
    model.append("loss", s, {float(10 - s)});
    model.append("resid_var", s, {1.0f * s, 2.0f * s, 3.0f * s, 4.0f * s});
    model.append("resid_var_final_norm", s, {0.5f});
    model.append("lr", s, {1e-3f});
  }
  ChartWidget* loss = dash.chart("chart_loss");
  ChartWidget* per_layer = dash.chart("chart_resid_var");
  ChartWidget* last = dash.chart("chart_last_var");
  ASSERT_EQ(loss->lineCount(), 1);
  EXPECT_EQ(loss->lineY(0).back(), 0.0);
  EXPECT_EQ(loss->lineX(0).size(), 10u);
  ASSERT_EQ(per_layer->lineCount(), 4);          // one line per layer
  EXPECT_EQ(per_layer->lineName(2), "block 2");  // blocks are numbered from 0 everywhere
  EXPECT_EQ(per_layer->lineY(2)[4], 15.0);       // layer 3 at step 5
  ASSERT_EQ(last->lineCount(), 2);               // residual h_L and the final-norm output
  EXPECT_EQ(last->lineY(0).back(), 40.0);        // the last column of resid_var
  EXPECT_EQ(last->lineY(1).back(), 0.5);
  // One more row: one more point on each bound line, nothing elsewhere.
  model.append("resid_var", 11, {1, 2, 3, 44});
  EXPECT_EQ(per_layer->lineY(3).back(), 44.0);
  EXPECT_EQ(last->lineY(0).back(), 44.0);
  EXPECT_EQ(loss->lineX(0).size(), 10u);
}

TEST(Panels, HeatmapsAndBarsFollowTheModel) {
  RunModel model;
  DashboardPanel dash(&model);
  model.declareSeries("attn_entropy", 2);
  model.declareSeries("weight_sparsity_1e-3", 3);
  model.append("attn_entropy", 1, {0.5f, 1.5f});
  model.append("attn_entropy", 2, {0.7f, 1.7f});
  model.append("weight_sparsity_1e-3", 2, {0.25f, 0.75f, 0.5f});
  dash.refreshNow();
  auto* heat = dash.findChild<views::HeatmapWidget*>("heat_entropy");
  ASSERT_EQ(heat->rows(), 2);  // layers
  ASSERT_EQ(heat->cols(), 2);  // steps
  EXPECT_FLOAT_EQ(float(heat->value(1, 0)), 1.5f);
  auto* bars = dash.findChild<views::BarChartWidget*>("bars_weight_sparsity");
  ASSERT_EQ(bars->series().size(), 1u);
  EXPECT_EQ(bars->series()[0], (std::vector<double>{0.25, 0.75}));  // overall column excluded
}

// weight_log10_hist is a histogram over log10|w| (40 bins), not 40 series:
// the dashboard and the browser draw it as bin x step, the top bin first,
// coloured by log10 of the fraction of weights in the bin; empty bins NaN.
TEST(Panels, AHistogramSeriesIsDrawnAsBinsByStep) {
  RunModel model;
  DashboardPanel dash(&model);
  BrowserPanel browser(&model);
  model.declareSeries("weight_log10_hist", 40);
  std::vector<float> a(40, 0.f), b(40, 0.f);
  a[30] = 90;  // step 1: 90 % of the weights in bin 30, 10 % in bin 5
  a[5] = 10;
  b[31] = 99;  // step 2: 99 % in bin 31, 1 % in bin 0 (zeros and below 1e-8)
  b[0] = 1;
  model.append("weight_log10_hist", 1, a);
  model.append("weight_log10_hist", 2, b);
  dash.refreshNow();
  for (views::HeatmapWidget* heat :
       {dash.findChild<views::HeatmapWidget*>("heat_weight_hist"), browser.histogram()}) {
    if (heat == browser.histogram()) {
      browser.showSeries("weight_log10_hist");
      EXPECT_TRUE(browser.showsHistogram());
      EXPECT_EQ(browser.chart()->lineCount(), 0);  // not 40 lines
    }
    ASSERT_NE(heat, nullptr);
    ASSERT_EQ(heat->rows(), 40);  // bins
    ASSERT_EQ(heat->cols(), 2);   // steps
    // Row r is bin 39 - r: bin 30 is row 9, bin 0 the bottom row.
    EXPECT_NEAR(heat->value(9, 0), std::log10(0.9), 1e-6);
    EXPECT_NEAR(heat->value(34, 0), std::log10(0.1), 1e-6);
    EXPECT_NEAR(heat->value(8, 1), std::log10(0.99), 1e-6);
    EXPECT_NEAR(heat->value(39, 1), std::log10(0.01), 1e-6);
    EXPECT_TRUE(std::isnan(heat->value(0, 0)));  // empty bin
  }
  // Another series goes back to the chart.
  model.declareSeries("loss", 1);
  model.append("loss", 1, {2.0f});
  browser.showSeries("loss");
  EXPECT_FALSE(browser.showsHistogram());
  EXPECT_EQ(browser.chart()->lineCount(), 1);
}

// A per-layer histogram series (layer-major groups of bins) shows the chosen
// layer's bins; a width that is not a multiple of the bins draws nothing.
TEST(Panels, APerLayerHistogramShowsTheChosenLayersBins) {
  RunModel model;
  model.declareSeries("h", 6);  // 2 layers x 3 bins
  model.append("h", 1, {1.f, 0.f, 0.f, 0.f, 1.f, 3.f});
  const HistogramAxis axis{"x", 0.0, 3.0, 3};
  views::HeatmapWidget heat("h");
  ASSERT_EQ(step_heatmap_groups(model.series("h"), axis), 2);
  step_heatmap_histogram(&heat, model.series("h"), axis, 1024, /*group=*/1);
  ASSERT_EQ(heat.rows(), 3);
  EXPECT_NEAR(heat.value(0, 0), std::log10(0.75), 1e-9);  // top bin of layer 1: 3 of 4
  EXPECT_NEAR(heat.value(1, 0), std::log10(0.25), 1e-9);
  EXPECT_TRUE(std::isnan(heat.value(2, 0)));  // empty
  step_heatmap_histogram(&heat, model.series("h"), axis, 1024, /*group=*/0);
  EXPECT_NEAR(heat.value(2, 0), 0.0, 1e-9);  // layer 0: all in the bottom bin
  model.declareSeries("odd", 5);
  model.append("odd", 1, {1.f, 1.f, 1.f, 1.f, 1.f});
  EXPECT_EQ(step_heatmap_groups(model.series("odd"), axis), 0);
  step_heatmap_histogram(&heat, model.series("odd"), axis, 1024);
  EXPECT_EQ(heat.rows(), 0);
}

// The wheel over a picker of a scrolled panel scrolls the panel and leaves the
// picker alone until it is clicked (it changed the chart on the way once).
TEST(Panels, TheWheelPassesAnUnfocusedPickerByWithoutChangingIt) {
  RunModel model;
  DashboardPanel dash(&model);
  dash.resize(900, 400);  // the dashboard is taller: it scrolls
  dash.show();
  QComboBox* picker = nullptr;
  for (QComboBox* c : dash.findChildren<QComboBox*>())
    if (c->currentText() == "kurtosis_token") picker = c;
  ASSERT_NE(picker, nullptr);
  auto* scroll = dash.findChild<QScrollArea*>();
  ASSERT_NE(scroll, nullptr);
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&dash));
  ASSERT_GT(scroll->verticalScrollBar()->maximum(), 0);  // it does scroll
  // Qt passes a wheel event the widget leaves unaccepted on to its parents
  // (the scroll area) when the window system delivers it; a synthetic one
  // stops at the receiver, so its accepted flag is what is checked here.
  const QPointF at = QRectF(picker->rect()).center();
  auto wheel_over_picker = [&] {
    QWheelEvent wheel(at, picker->mapToGlobal(at), QPoint(), QPoint(0, -120), Qt::NoButton,
                      Qt::NoModifier, Qt::NoScrollPhase, false);
    QApplication::sendEvent(picker, &wheel);
    return wheel.isAccepted();
  };
  EXPECT_FALSE(wheel_over_picker()) << "the picker kept the wheel";
  EXPECT_EQ(picker->currentText(), "kurtosis_token");
  dash.activateWindow();
  ASSERT_TRUE(QTest::qWaitForWindowActive(&dash));
  picker->setFocus();  // clicked: now the wheel is the picker's
  ASSERT_TRUE(picker->hasFocus());
  EXPECT_TRUE(wheel_over_picker());
  EXPECT_NE(picker->currentText(), "kurtosis_token");
}

// A remote worker's analysis arrives as the analysis file's arrays in JSON
// (store/analysis_codec.h, decoded from what Qt's JSON classes pass on); the
// heatmaps show it as they show the file, the Jacobian matrix included.
TEST(Panels, HeatmapsShowAnAnalysisReceivedFromARemoteWorker) {
  AnalysisFileData sent;
  sent.step = 40;
  sent.checkpoint = "runs/x/checkpoints/step-40.h5";
  sent.ints["n_layers"] = 3;
  sent.ints["d_model"] = 2;
  sent.reals["tau"] = 0.1;
  sent.texts["source"] = "heldout";
  const double causal[9] = {0, 0.5, 0.25, 0, 0, 0.125, 0, 0, 0};
  const double ratio[3] = {0.05, 0.5, 1.0};
  const float jacobian[4] = {1.5f, -0.25f, 0.5f, 0.75f};
  sent.arrays.push_back(Array::from_f64("causal_matrix", {3, 3}, causal));
  sent.arrays.push_back(Array::from_f64("usefulness_ratio", {3}, ratio));
  // jacobian/1: the block the panel shows first (L / 2).
  sent.arrays.push_back(Array::from_f32("jacobian/1", {2, 2}, jacobian));
  // As the worker client passes it on: parsed by Qt, written out again.
  const QByteArray wire =
      QJsonDocument::fromJson(QByteArray::fromStdString(analysis_file_to_json(sent)))
          .toJson(QJsonDocument::Compact);
  const AnalysisFileData d = analysis_file_from_json(wire.toStdString());
  EXPECT_EQ(d.ints.at("n_layers"), 3);
  EXPECT_DOUBLE_EQ(d.reals.at("tau"), 0.1);
  EXPECT_EQ(d.texts.at("source"), "heldout");
  const auto c = analysis_array(d, "causal_matrix");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->shape, (std::vector<int64_t>{3, 3}));
  EXPECT_DOUBLE_EQ(c->values[1], 0.5);

  RunModel model;
  AnalysisPanel panel(&model);
  model.setAnalysis(40, std::make_shared<const AnalysisFileData>(d));
  auto* heat = panel.findChild<views::HeatmapWidget*>("heat_causal");
  ASSERT_EQ(heat->rows(), 3);
  EXPECT_DOUBLE_EQ(heat->value(0, 2), 0.25);
  auto* bars = panel.findChild<views::BarChartWidget*>("bars_usefulness");
  ASSERT_EQ(bars->series().size(), 1u);
  EXPECT_EQ(bars->series()[0], (std::vector<double>{0.05, 0.5, 1.0}));
  auto* jac = panel.findChild<views::HeatmapWidget*>("heat_jacobian");
  ASSERT_EQ(jac->rows(), 2) << "the remote Jacobian matrix is not shown";
  EXPECT_DOUBLE_EQ(jac->value(0, 1), -0.25);
}

// A block is useful when L(M_lin) / L(M) > 1 + tau: the usefulness chart
// draws its line at 1 + tau over bars that grow from 1, so ratios of
// 1.002 .. 1.035 with tau = 0.1 read "none useful", as useful_layers says.
// One action writes every analysis of the checkpoint: each plot as PNG and
// SVG, the Jacobian of every block that has one, and the JSON with every array.
TEST(Panels, ExportAllWritesEveryPlotAndTheArraysOfTheCheckpoint) {
  AnalysisFileData d;
  d.step = 12;
  d.ints["n_layers"] = 3;
  d.reals["tau"] = 0.1;
  const double causal[9] = {0, 0.5, 0.25, 0, 0, 0.125, 0, 0, 0};
  const double ratio[3] = {1.01, 1.2, 1.05};
  const float j0[4] = {1.5f, -0.25f, 0.5f, 0.75f}, j2[4] = {1, 0, 0, 1};
  d.arrays.push_back(Array::from_f64("causal_matrix", {3, 3}, causal));
  d.arrays.push_back(Array::from_f64("usefulness_ratio", {3}, ratio));
  d.arrays.push_back(Array::from_f32("jacobian/0", {2, 2}, j0));
  d.arrays.push_back(Array::from_f32("jacobian/2", {2, 2}, j2));  // block 1 has none
  RunModel model;
  model.setRunInfo("exp", "", {});
  AnalysisPanel panel(&model);  // never shown: the export still draws readable plots
  model.setAnalysis(12, std::make_shared<const AnalysisFileData>(d));
  panel.selectLayer(2);
  QTemporaryDir tmp;
  QString error;
  const QString folder = panel.exportAll(tmp.path(), &error);
  ASSERT_FALSE(folder.isEmpty()) << error.toStdString();
  EXPECT_EQ(QDir(folder).dirName(), "exp-analysis-step-12");
  QStringList expected;
  for (const char* plot : {"causal_matrix", "permutation_matrix", "layer_similarity", "usefulness",
                           "jacobian_deviation", "jacobian-block-0", "jacobian-block-2"}) {
    expected << QString(plot) + ".png" << QString(plot) + ".svg";
  }
  expected << "analysis-step-12.json";
  QStringList written = QDir(folder).entryList(QDir::Files, QDir::Name);
  expected.sort();
  EXPECT_EQ(written, expected) << written.join(" ").toStdString();
  const QImage causal_png(QDir(folder).filePath("causal_matrix.png"));
  EXPECT_GE(causal_png.width(), 640);
  const QImage jac0(QDir(folder).filePath("jacobian-block-0.png"));
  EXPECT_FALSE(jac0.isNull());
  EXPECT_NE(jac0, QImage(QDir(folder).filePath("jacobian-block-2.png")));  // each its own block
  QFile json(QDir(folder).filePath("analysis-step-12.json"));
  ASSERT_TRUE(json.open(QIODevice::ReadOnly));
  const AnalysisFileData back = analysis_file_from_json(json.readAll().toStdString());
  EXPECT_EQ(back.step, 12);
  ASSERT_TRUE(analysis_array(back, "jacobian/2"));
  EXPECT_EQ(analysis_array(back, "usefulness_ratio")->values,
            (std::vector<double>{1.01, 1.2, 1.05}));
  // The panel is back on the block the user chose.
  EXPECT_EQ(panel.findChild<QSpinBox*>("spin_layer")->value(), 2);
}

TEST(Panels, TheUsefulnessLineIsAtOnePlusTau) {
  AnalysisFileData d;
  d.step = 10;
  d.ints["n_layers"] = 2;
  d.ints["useful_layers"] = 0;
  d.reals["tau"] = 0.1;
  const double ratio[2] = {1.002, 1.035};
  d.arrays.push_back(Array::from_f64("usefulness_ratio", {2}, ratio));
  RunModel model;
  AnalysisPanel panel(&model);
  panel.resize(1200, 900);
  model.setAnalysis(10, std::make_shared<const AnalysisFileData>(d));
  auto* bars = panel.findChild<views::BarChartWidget*>("bars_usefulness");
  ASSERT_NE(bars, nullptr);
  EXPECT_DOUBLE_EQ(bars->threshold(), 1.1);
  EXPECT_DOUBLE_EQ(bars->baseline(), 1.0);
  EXPECT_LT(bars->valueY(1.1), bars->valueY(1.035)) << "the line must be above every bar";
}

// Ctrl+1 .. Ctrl+6 show and raise their panel; pressing one twice must not
// hide it (it once toggled, and the next start opened without a Dashboard).
TEST(Panels, PanelShortcutsShowAndNeverHide) {
  MainWindow w;
  w.show();
  const QKeySequence ctrl1(Qt::CTRL | Qt::Key_1);
  std::vector<QAction*> with_ctrl1;
  for (QAction* a : w.findChildren<QAction*>())
    if (a->shortcut() == ctrl1) with_ctrl1.push_back(a);
  ASSERT_EQ(with_ctrl1.size(), 1u) << "one action per shortcut";
  QDockWidget* dashboard = w.docks()[0];
  ASSERT_EQ(dashboard->objectName(), "dock_dashboard");
  with_ctrl1[0]->trigger();
  with_ctrl1[0]->trigger();
  EXPECT_TRUE(dashboard->isVisible()) << "a second Ctrl+1 hid the Dashboard";
  dashboard->hide();  // closed with its own button
  with_ctrl1[0]->trigger();
  EXPECT_TRUE(dashboard->isVisible()) << "Ctrl+1 must bring a closed panel back";
}

// An open run without analyses: the Heatmaps say so and offer Analyze (not
// "Open a run"), and the offer goes once an analysis is there.
TEST(Panels, HeatmapsOfAnUnanalysedRunOfferAnalyze) {
  RunModel model;
  AnalysisPanel panel(&model);
  panel.show();
  auto* analyze = panel.findChild<QPushButton*>("button_analyze_here");
  ASSERT_NE(analyze, nullptr);
  EXPECT_FALSE(analyze->isVisible());  // no run
  model.setRunInfo("tiny", "/runs/tiny", QJsonObject{});
  EXPECT_TRUE(analyze->isVisible());
  bool says = false;
  for (QLabel* l : panel.findChildren<QLabel*>()) says = says || l->text().contains("not analysed");
  EXPECT_TRUE(says);
  int asked = 0;
  QObject::connect(&panel, &AnalysisPanel::analyzeRequested, [&] { ++asked; });
  analyze->click();
  EXPECT_EQ(asked, 1);
  AnalysisFileData d;
  d.step = 5;
  d.ints["n_layers"] = 2;
  model.setAnalysis(5, std::make_shared<const AnalysisFileData>(d));
  EXPECT_FALSE(analyze->isVisible());
}

// Before the worker connects (the start-up), the interventions panel waits
// for it; it does not flash "Could not list the runs: no worker connected".
TEST(Panels, InterventionsWaitForTheWorkerInsteadOfFailing) {
  RunModel model;
  client::WorkerClient worker;  // never connected
  InterventionsPanel panel(&model, &worker);
  panel.setRun("tiny");
  auto* status = panel.findChild<QLabel*>("label_status");
  ASSERT_NE(status, nullptr);
  EXPECT_TRUE(status->text().startsWith("Waiting for the worker")) << status->text().toStdString();
  EXPECT_FALSE(status->text().contains("Could not"));
}

TEST(Panels, LayoutIsRememberedAcrossWindows) {
  // (tests/qt_gtest_main.cpp points QSettings at a temporary folder)
  {
    MainWindow w;
    w.show();
    w.docks()[2]->hide();  // the comparison panel
    w.close();
  }
  MainWindow again;
  again.show();
  EXPECT_FALSE(again.docks()[2]->isVisible());
  EXPECT_TRUE(again.docks()[0]->isVisible());
}

}  // namespace
}  // namespace dlab::gui
