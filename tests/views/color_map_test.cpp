#include "views/color_map.h"

#include <gtest/gtest.h>

#include <cmath>

namespace dlab::views {
namespace {

TEST(ColorMap, SequentialEndsAreViridisEnds) {
  const ColorMap m = ColorMap::sequential(2.0, 4.0);
  EXPECT_EQ(m.color(2.0), QColor(68, 1, 84));
  EXPECT_EQ(m.color(4.0), QColor(253, 231, 37));
  EXPECT_EQ(m.color(3.0), QColor(33, 144, 141));  // midpoint
  EXPECT_EQ(m.color(-10.0), m.color(2.0));        // clamps
}

TEST(ColorMap, DivergingIsWhiteAtTheCentreAndSymmetric) {
  const ColorMap m = ColorMap::diverging(1.0, 0.5);
  EXPECT_EQ(m.color(1.0), QColor(247, 247, 247));
  EXPECT_EQ(m.color(0.5), QColor(59, 76, 192));
  EXPECT_EQ(m.color(1.5), QColor(180, 4, 38));
  EXPECT_DOUBLE_EQ(m.position(1.25), 0.75);
}

TEST(ColorMap, NanIsGrey) {
  EXPECT_EQ(ColorMap::sequential(0, 1).color(NAN), QColor(128, 128, 128));
}

TEST(ColorMap, DepthColoursFollowTheColourBar) {
  const ColorMap bar = depth_map(8);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(depth_color(i, 8), bar.color(i + 1));
  EXPECT_NE(depth_color(0, 8), depth_color(7, 8));
}

}  // namespace
}  // namespace dlab::views
