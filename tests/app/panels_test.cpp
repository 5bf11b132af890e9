// Every panel constructs, and data fed through the RunModel reaches the right
// chart lines (the same path live telemetry will take).
#include <gtest/gtest.h>

#include <QDockWidget>
#include <QJsonDocument>
#include <QSettings>
#include <QTemporaryDir>

#include "analysis_arrays.h"
#include "analysis_panel.h"
#include "browser_panel.h"
#include "compare_panel.h"
#include "dashboard_panel.h"
#include "interventions_panel.h"
#include "launch_panel.h"
#include "main_window.h"
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

// A remote worker's analysis arrives as the JSON of `dlab analyze --json`;
// the heatmaps show it as they show an analysis file.
TEST(Panels, HeatmapsShowAnAnalysisReceivedAsJson) {
  const QJsonObject result = QJsonDocument::fromJson(R"({
      "format": "depthlab-analysis", "step": 40, "n_layers": 3, "d_model": 8, "loss": 2.5,
      "causal_matrix": [[0, 0.5, 0.25], [0, 0, 0.125], [0, 0, 0]], "causal_score": 0.3,
      "usefulness_ratio": [0.05, 0.5, 1.0], "useful_layers": 1, "tau": 0.1,
      "block_influence": [0.9, 0.2, 0.1], "source": "heldout",
      "ragged": [[1, 2], [3]], "with_null": [1, null]})")
                                 .object();
  const AnalysisFileData d = analysis_from_json(result, 40);
  EXPECT_EQ(d.ints.at("n_layers"), 3);
  EXPECT_EQ(d.ints.at("useful_layers"), 1);
  EXPECT_DOUBLE_EQ(d.reals.at("tau"), 0.1);
  EXPECT_EQ(d.texts.at("source"), "heldout");
  const auto causal = analysis_array(d, "causal_matrix");
  ASSERT_TRUE(causal);
  EXPECT_EQ(causal->shape, (std::vector<int64_t>{3, 3}));
  EXPECT_DOUBLE_EQ(causal->values[1], 0.5);
  EXPECT_FALSE(analysis_array(d, "ragged")) << "a ragged list is not a matrix";
  EXPECT_FALSE(analysis_array(d, "with_null"));

  RunModel model;
  AnalysisPanel panel(&model);
  model.setAnalysis(40, std::make_shared<const AnalysisFileData>(d));
  auto* heat = panel.findChild<views::HeatmapWidget*>("heat_causal");
  ASSERT_EQ(heat->rows(), 3);
  EXPECT_DOUBLE_EQ(heat->value(0, 2), 0.25);
  auto* bars = panel.findChild<views::BarChartWidget*>("bars_usefulness");
  ASSERT_EQ(bars->series().size(), 1u);
  EXPECT_EQ(bars->series()[0], (std::vector<double>{0.05, 0.5, 1.0}));
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
