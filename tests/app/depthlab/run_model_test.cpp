// RunModel: the one append API every data source uses.
#include "run_model.h"

#include <gtest/gtest.h>

#include <QJsonDocument>
#include <QSignalSpy>

namespace dlab::gui {
namespace {

TEST(RunModel, AppendRowsKeepsBlocksAndSignalsTheNewRange) {
  RunModel m;
  QSignalSpy appended(&m, &RunModel::rowsAppended);
  m.declareSeries("resid_var", 3);
  m.append("resid_var", 1, {1, 2, 3});
  const int64_t steps[2] = {2, 3};
  const float values[6] = {4, 5, 6, 7, 8, 9};
  m.appendRows("resid_var", steps, values, 2);
  const auto* s = m.series("resid_var");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->rows(), 3);
  EXPECT_EQ(s->at(2, 1), 8.0f);
  ASSERT_EQ(appended.count(), 2);
  EXPECT_EQ(appended.at(1).at(1).toLongLong(), 1);  // first new row
  EXPECT_EQ(appended.at(1).at(2).toLongLong(), 2);  // count
}

TEST(RunModel, RefusesRowsOfTheWrongWidthAndUndeclaredSeries) {
  RunModel m;
  m.declareSeries("loss", 1);
  EXPECT_THROW(m.append("loss", 1, {1, 2}), std::invalid_argument);
  EXPECT_THROW(m.append("nope", 1, {1}), std::invalid_argument);
}

TEST(RunModel, ConfigValuesByDottedKey) {
  RunModel m;
  m.setRunInfo("r", "/tmp/r",
               QJsonDocument::fromJson(R"({"model":{"n_layers":8,"moe":{"top_k":2}}})").object());
  EXPECT_EQ(m.configValue("model.n_layers"), "8");
  EXPECT_EQ(m.configValue("model.moe.top_k"), "2");
  EXPECT_EQ(m.configValue("model.absent"), "");
}

}  // namespace
}  // namespace dlab::gui
