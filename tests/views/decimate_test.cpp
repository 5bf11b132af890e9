// Min/max-per-bucket decimation keeps each bucket's extremes (spikes survive).
#include "views/decimate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <vector>

namespace dlab::views {
namespace {

TEST(Decimate, KeepsMinAndMaxOfEveryBucket) {
  const int n = 10000, buckets = 97;
  std::vector<double> x(n), y(n);
  std::mt19937 rng(3);
  std::normal_distribution<double> g;
  for (int i = 0; i < n; ++i) {
    x[size_t(i)] = i;
    y[size_t(i)] = g(rng);
  }
  const double x0 = 0, x1 = n - 1;
  const auto kept = decimate_minmax(x.data(), y.data(), n, x0, x1, buckets);
  ASSERT_LE(kept.size(), size_t(2 * buckets + 4));
  const std::set<int64_t> kset(kept.begin(), kept.end());
  for (size_t i = 1; i < kept.size(); ++i) EXPECT_LT(kept[i - 1], kept[i]);  // x order
  // Brute force: the argmin and argmax of each bucket are kept.
  std::vector<int64_t> bmin(buckets, -1), bmax(buckets, -1);
  for (int i = 0; i < n; ++i) {
    const int b = std::min(buckets - 1, int(std::floor((x[size_t(i)] - x0) * buckets / (x1 - x0))));
    if (bmin[size_t(b)] < 0 || y[size_t(i)] < y[size_t(bmin[size_t(b)])]) bmin[size_t(b)] = i;
    if (bmax[size_t(b)] < 0 || y[size_t(i)] > y[size_t(bmax[size_t(b)])]) bmax[size_t(b)] = i;
  }
  for (int b = 0; b < buckets; ++b) {
    EXPECT_TRUE(kset.count(bmin[size_t(b)])) << "bucket " << b << " lost its minimum";
    EXPECT_TRUE(kset.count(bmax[size_t(b)])) << "bucket " << b << " lost its maximum";
  }
}

TEST(Decimate, OneSampleSpikeSurvives) {
  const int n = 20000;
  std::vector<double> x(n), y(n, 1.0);
  for (int i = 0; i < n; ++i) x[size_t(i)] = i;
  y[12345] = 50.0;
  y[777] = -50.0;
  const auto kept = decimate_minmax(x.data(), y.data(), n, 0, n - 1, 100);
  const std::set<int64_t> kset(kept.begin(), kept.end());
  EXPECT_TRUE(kset.count(12345));
  EXPECT_TRUE(kset.count(777));
  EXPECT_LE(kept.size(), size_t(204));
}

TEST(Decimate, MaskedPointsBreakTheLineAndAreNeverKept) {
  std::vector<double> x = {0, 1, 2, 3, 4, 5}, y = {1, 2, NAN, NAN, 3, 4};
  const auto kept = decimate_minmax(x.data(), y.data(), 6, 0, 5, 1000);
  EXPECT_EQ(kept, (std::vector<int64_t>{0, 1, kGap, 4, 5}));
}

TEST(Decimate, ClipsToTheRangePlusOneNeighbourEachSide) {
  std::vector<double> x(100), y(100);
  for (int i = 0; i < 100; ++i) {
    x[size_t(i)] = i;
    y[size_t(i)] = i;
  }
  const auto kept = decimate_minmax(x.data(), y.data(), 100, 40, 50, 1000);
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(kept.front(), 39);
  EXPECT_EQ(kept.back(), 51);
}

// The cache that live charts use: appended in chunks, it keeps exactly what a
// fresh decimation of the whole series keeps, every bucket's min and max
// survive, and masked points still break the line.
TEST(MinMaxCache, AppendsGiveTheSameResultAsAFreshBuildAndKeepExtremes) {
  std::mt19937 rng(11);
  std::normal_distribution<double> noise;
  const int64_t n = 30000;
  std::vector<double> x(n), y(n);
  for (int64_t i = 0; i < n; ++i) {
    x[size_t(i)] = double(i);
    y[size_t(i)] = (i % 9973 == 5000) ? std::nan("") : noise(rng);
  }
  y[17001] = 100.0;  // a spike
  MinMaxCache live;
  int64_t have = 1000;
  std::vector<int64_t> kept;
  while (have <= n) {
    kept = live.select(x.data(), y.data(), have, 0.0, double(have - 1), 500);
    have += 337;
  }
  have -= 337;
  MinMaxCache fresh;
  EXPECT_EQ(kept, fresh.select(x.data(), y.data(), have, 0.0, double(have - 1), 500));
  EXPECT_NE(std::find(kept.begin(), kept.end(), 17001), kept.end());
  EXPECT_NE(std::find(kept.begin(), kept.end(), kGap), kept.end());
  EXPECT_LE(kept.size(), size_t(2 * 500 * 2 + 8));  // buckets are at most 2x a pixel
  // Every bucket of the cache's grid keeps its arg-min and arg-max.
  const double width = std::exp2(std::ceil(std::log2(double(have - 1) / 500)));
  std::set<int64_t> set(kept.begin(), kept.end());
  int64_t b0 = -1, imin = -1, imax = -1;
  auto check = [&] {
    if (imin < 0) return;
    EXPECT_TRUE(set.count(imin)) << imin;
    EXPECT_TRUE(set.count(imax)) << imax;
  };
  for (int64_t i = 0; i < have; ++i) {
    if (std::isnan(y[size_t(i)])) {
      check();
      imin = imax = -1;
      continue;
    }
    const auto b = int64_t(std::floor(x[size_t(i)] / width));
    if (b != b0) {
      check();
      imin = imax = -1;
      b0 = b;
    }
    if (imin < 0 || y[size_t(i)] < y[size_t(imin)]) imin = i;
    if (imax < 0 || y[size_t(i)] > y[size_t(imax)]) imax = i;
  }
  check();
}

TEST(MinMaxCache, ZoomSelectsTheRangePlusOneNeighbourEachSide) {
  std::vector<double> x(1000), y(1000);
  for (int i = 0; i < 1000; ++i) {
    x[size_t(i)] = i;
    y[size_t(i)] = i % 13;
  }
  MinMaxCache cache;
  const auto kept = cache.select(x.data(), y.data(), 1000, 200.0, 300.0, 2000);
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(kept.front(), 199);
  EXPECT_EQ(kept.back(), 301);
}

}  // namespace
}  // namespace dlab::views
