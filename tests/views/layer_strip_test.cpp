#include <gtest/gtest.h>

#include <QSignalSpy>
#include <QtTest/QTest>

#include "views/layer_strip_widget.h"

namespace dlab::views {
namespace {

TEST(LayerStripWidget, ClickTogglesSelectionAndTilesUseTheColourMap) {
  LayerStripWidget s("strip");
  s.resize(600, 100);
  s.setValues({0.1, 0.5, 0.9}, "usefulness");
  s.setTileLabel(1, "+0.12");
  s.show();
  QSignalSpy clicked(&s, &LayerStripWidget::tileClicked);
  QTest::mouseClick(&s, Qt::LeftButton, {}, s.tileRect(1).center().toPoint());
  ASSERT_EQ(clicked.count(), 1);
  EXPECT_EQ(clicked.at(0).at(0).toInt(), 1);
  EXPECT_EQ(s.selection(), (std::set<int>{1}));
  QTest::mouseClick(&s, Qt::LeftButton, {}, s.tileRect(1).center().toPoint());
  EXPECT_TRUE(s.selection().empty());
  EXPECT_EQ(s.tileColor(0), ColorMap::sequential(0.1, 0.9).color(0.1));
  const QImage img = s.grab().toImage();
  // A pixel inside tile 2 away from its number has the tile's colour.
  const QPointF corner = s.tileRect(2).topLeft() + QPointF(4, 4);
  EXPECT_EQ(img.pixelColor(corner.toPoint()), s.tileColor(2));
}

}  // namespace
}  // namespace dlab::views
