#include "metrics/running_mean.h"

#include <gtest/gtest.h>

#include <cmath>

namespace dlab {
namespace {

TEST(RunningMean, TokenWeightedMeanAndMerge) {
  RunningMean a;
  EXPECT_TRUE(std::isnan(a.mean()));  // nothing added yet
  a.add(2.0, 100);                    // rank 0: 100 tokens with mean 2
  a.add(5.0, 300);                    // rank 0, second micro-batch
  EXPECT_DOUBLE_EQ(a.mean(), (2.0 * 100 + 5.0 * 300) / 400);
  RunningMean b;
  b.add(-1.0, 600);  // rank 1
  a.merge(b);
  EXPECT_DOUBLE_EQ(a.weight, 1000);
  EXPECT_DOUBLE_EQ(a.mean(), (200.0 + 1500.0 - 600.0) / 1000);
}

}  // namespace
}  // namespace dlab
