#include "train/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

namespace dlab {

TEST(Schedule, WarmupIsLinearFromZero) {
  EXPECT_DOUBLE_EQ(lr_at(0, 100, 10, 1.0, 0.1), 0.1);
  EXPECT_DOUBLE_EQ(lr_at(4, 100, 10, 1.0, 0.1), 0.5);
  EXPECT_DOUBLE_EQ(lr_at(9, 100, 10, 1.0, 0.1), 1.0);
}

TEST(Schedule, CosineFromPeakToFloor) {
  EXPECT_DOUBLE_EQ(lr_at(10, 100, 10, 2.0, 0.1), 2.0);    // peak right after warm-up
  EXPECT_NEAR(lr_at(99, 100, 10, 2.0, 0.1), 0.2, 1e-12);  // 0.1 x peak at the last step
  // half-way through the decay the cosine is at its mid-point
  const double mid = lr_at(10 + 89 / 2, 100, 10, 2.0, 0.1);
  EXPECT_NEAR(mid, 0.2 + 0.5 * (2.0 - 0.2) * (1 + std::cos(M_PI * 44.0 / 89.0)), 1e-12);
  for (int64_t s = 11; s < 100; ++s)
    EXPECT_LE(lr_at(s, 100, 10, 2.0, 0.1), lr_at(s - 1, 100, 10, 2.0, 0.1));
}

TEST(Schedule, NoWarmup) {
  EXPECT_DOUBLE_EQ(lr_at(0, 50, 0, 1.0, 0.0), 1.0);
  EXPECT_NEAR(lr_at(49, 50, 0, 1.0, 0.0), 0.0, 1e-12);
}

}  // namespace dlab
