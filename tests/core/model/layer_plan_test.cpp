#include "model/layer_plan.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace dlab {
namespace {

using Kind = PlanEntry::Kind;

TEST(LayerPlan, IntactHasOwnEntries) {
  const LayerPlan plan = LayerPlan::intact(4);
  EXPECT_EQ(plan.size(), 4);
  EXPECT_TRUE(plan.is_intact());
  EXPECT_EQ(plan.first_change(), 4);
  EXPECT_EQ(plan.describe(), "intact");
  for (int i = 0; i < 6; ++i) EXPECT_EQ(plan.at(i).kind, Kind::Own);
  EXPECT_NO_THROW(plan.check(4));
  const LayerPlan empty;
  EXPECT_TRUE(empty.is_intact());
  EXPECT_EQ(empty.size(), 0);
  EXPECT_EQ(empty.describe(), "intact");
  EXPECT_NO_THROW(empty.check(1));
}

TEST(LayerPlan, EntriesAndDescription) {
  LinearMap map;
  map.weight = torch::eye(3);
  LayerPlan plan = LayerPlan::intact(6);
  plan.skip(3).swap(1, 4).linear(5, map);
  EXPECT_EQ(plan.describe(), "swap 1<->4, skip 3, linear 5");
  EXPECT_EQ(plan.first_change(), 1);
  EXPECT_FALSE(plan.is_intact());
  EXPECT_EQ(plan.at(0).kind, Kind::Own);
  EXPECT_EQ(plan.at(1).kind, Kind::Block);
  EXPECT_EQ(plan.at(1).block, 4);
  EXPECT_EQ(plan.at(4).block, 1);
  EXPECT_EQ(plan.at(3).kind, Kind::Skip);
  ASSERT_EQ(plan.at(5).kind, Kind::Linear);
  EXPECT_TRUE(torch::equal(plan.at(5).linear->weight, torch::eye(3)));
  EXPECT_NO_THROW(plan.check(6));

  map.transposed = true;
  plan.linear(5, map).use_block(2, 0);
  EXPECT_EQ(plan.describe(), "swap 1<->4, block 0 at 2, skip 3, linear^T 5");
  // Overwriting an entry with its own block restores it.
  plan.use_block(2, 2);
  EXPECT_EQ(plan.at(2).kind, Kind::Own);
}

TEST(LayerPlan, GrowsFromEmpty) {
  LayerPlan plan;
  plan.skip(2);
  EXPECT_EQ(plan.size(), 3);
  EXPECT_EQ(plan.first_change(), 2);
  EXPECT_EQ(plan.at(7).kind, Kind::Own);
  EXPECT_EQ(plan.describe(), "skip 2");
  EXPECT_NO_THROW(plan.check(3));
}

std::string check_error(const LayerPlan& plan, int n_layers) {
  try {
    plan.check(n_layers);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(LayerPlan, CheckNamesThePosition) {
  EXPECT_NE(check_error(LayerPlan().skip(4), 4).find("position 4 is out of range"),
            std::string::npos);
  EXPECT_NE(check_error(LayerPlan::intact(4).use_block(1, 9), 4).find("position 1 runs block 9"),
            std::string::npos);
  EXPECT_NE(check_error(LayerPlan::intact(4).linear(2, LinearMap{}), 4)
                .find("position 2 is a linear replacement without a weight"),
            std::string::npos);
  // Own entries beyond the model are harmless (an intact plan of a deeper model).
  EXPECT_EQ(check_error(LayerPlan::intact(8), 4), "");
  EXPECT_THROW(LayerPlan().skip(-1), Error);
  EXPECT_THROW(LayerPlan().use_block(0, -2), Error);
  EXPECT_THROW(LayerPlan::intact(-1), Error);
}

}  // namespace
}  // namespace dlab
