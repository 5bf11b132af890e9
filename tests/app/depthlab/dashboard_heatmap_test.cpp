// Layer x step heatmaps of long runs: at most kMaxHeatColumns columns, each
// the mean of its bin of rows (log10 for the variance map), labelled by the
// bin's first step.
#include <gtest/gtest.h>

#include <cmath>

#include "dashboard_panel.h"
#include "run_model.h"
#include "views/heatmap_widget.h"

namespace dlab::gui {
namespace {

TEST(DashboardHeatmap, LongRunsAreBinnedToAFewHundredColumnsOfMeans) {
  RunModel model;
  DashboardPanel dash(&model);
  const int L = 3;
  const int64_t n = 5000;  // bins of 5 rows -> 1000 columns
  model.declareSeries("resid_var", L);
  std::vector<int64_t> steps(n);
  std::vector<float> values(size_t(n) * L);
  for (int64_t k = 0; k < n; ++k) {
    steps[size_t(k)] = 10 * k;
    for (int l = 0; l < L; ++l)
      values[size_t(k) * L + size_t(l)] = float(std::pow(10.0, (k % 5) + l));
  }
  model.appendRows("resid_var", steps.data(), values.data(), n);
  dash.refreshNow();
  auto* heat = dash.findChild<views::HeatmapWidget*>("heat_variance");
  ASSERT_NE(heat, nullptr);
  EXPECT_EQ(heat->rows(), L);
  EXPECT_EQ(heat->cols(), 1000);
  ASSERT_LE(heat->cols(), int(DashboardPanel::kMaxHeatColumns));
  // Column 0 of layer 2: rows 0..4 have log10 values 1, 2, 3, 4, 5 -> mean 3.
  EXPECT_NEAR(heat->value(1, 0), 3.0, 1e-5);
  EXPECT_NEAR(heat->value(0, 999), 2.0, 1e-5);
}

TEST(DashboardHeatmap, ShortRunsKeepOneColumnPerRow) {
  RunModel model;
  DashboardPanel dash(&model);
  model.declareSeries("resid_var", 2);
  const std::vector<int64_t> steps{1, 2, 3};
  const std::vector<float> values{1, 10, 100, 1000, 0, 10};
  model.appendRows("resid_var", steps.data(), values.data(), 3);
  dash.refreshNow();
  auto* heat = dash.findChild<views::HeatmapWidget*>("heat_variance");
  ASSERT_EQ(heat->cols(), 3);
  EXPECT_NEAR(heat->value(1, 1), 3.0, 1e-6);   // log10(1000)
  EXPECT_TRUE(std::isnan(heat->value(0, 2)));  // log10(0): masked, grey
}

}  // namespace
}  // namespace dlab::gui
