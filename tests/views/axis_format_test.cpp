// Axis ticks: nice 1-2-5 steps, and whole numbers only where the axis counts
// things (layers, steps): two layers are ticked 0 and 1, never 0.2 ... 0.8.
#include "views/axis_format.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace dlab::views
