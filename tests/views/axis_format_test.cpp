// Axis ticks: nice 1-2-5 steps, and whole numbers only where the axis counts
// things (layers, steps): two layers are ticked 0 and 1, never 0.2 ... 0.8.
#include "views/axis_format.h"

#include <gtest/gtest.h>

#include <cmath>

namespace dlab::views {
namespace {

TEST(AxisTicks, NiceStepsInsideTheRange) {
  const std::vector<double> fifths = nice_ticks(0, 1, 5);
  ASSERT_EQ(fifths.size(), 6u);
  for (size_t i = 0; i < fifths.size(); ++i) EXPECT_NEAR(fifths[i], 0.2 * double(i), 1e-12);
  EXPECT_EQ(nice_ticks(3, 47, 4), (std::vector<double>{20, 40}));
  EXPECT_TRUE(nice_ticks(1, 1, 5).empty());
}

TEST(AxisTicks, IntegerAxesGetWholeNumbersOnly) {
  EXPECT_EQ(nice_ticks(0, 1, 8, /*integers=*/true), (std::vector<double>{0, 1}));
  EXPECT_EQ(nice_ticks(0, 2, 8, /*integers=*/true), (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(nice_ticks(0, 31, 4, /*integers=*/true), (std::vector<double>{0, 10, 20, 30}));
  EXPECT_EQ(nice_ticks(20, 400, 4, /*integers=*/true), (std::vector<double>{100, 200, 300, 400}));
}

// A log-y loss axis between 5.4 and 7.6 (inside one decade) once showed two
// ticks; it shows round values of the loss now, and decades where there are some.
TEST(AxisTicks, LogAxesShowAtLeastThreeTicks) {
  const std::vector<double> loss = log_ticks(std::log10(5.4), std::log10(7.6), 5);
  ASSERT_GE(loss.size(), 3u);
  std::vector<double> values;
  for (double t : loss) values.push_back(std::round(std::pow(10.0, t) * 1000) / 1000);
  EXPECT_EQ(values, (std::vector<double>{5.5, 6, 6.5, 7, 7.5}));
  EXPECT_EQ(log_ticks(-3, 2, 6), (std::vector<double>{-3, -2, -1, 0, 1, 2}));  // decades
  const std::vector<double> ppl = log_ticks(std::log10(250), std::log10(2000), 5);
  std::vector<double> ppl_values;
  for (double t : ppl) ppl_values.push_back(std::round(std::pow(10.0, t)));
  EXPECT_EQ(ppl_values, (std::vector<double>{500, 1000, 2000}));  // 1-2-5 steps
}

}  // namespace
}  // namespace dlab::views
