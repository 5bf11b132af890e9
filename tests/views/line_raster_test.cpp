// The span rasteriser for dense lines colours every pixel a segment passes
// through, with no gaps on steep segments, clips to the image, and leaves
// everything else untouched.
#include "views/line_raster.h"

#include <gtest/gtest.h>

#include <QImage>

namespace dlab::views {
namespace {

QImage blank(int w, int h) {
  QImage img(w, h, QImage::Format_ARGB32_Premultiplied);
  img.fill(Qt::transparent);
  return img;
}

int painted(const QImage& img) {
  int n = 0;
  for (int y = 0; y < img.height(); ++y) {
    for (int x = 0; x < img.width(); ++x) n += qAlpha(img.pixel(x, y)) != 0;
  }
  return n;
}

TEST(LineRaster, SteepSegmentFillsEveryRowItCrosses) {
  QImage img = blank(20, 50);
  raster_polyline(img, {QPointF(5, 2), QPointF(6, 40)}, Qt::red);
  for (int y = 2; y <= 40; ++y) {
    const bool hit =
        img.pixelColor(5, y) == QColor(Qt::red) || img.pixelColor(6, y) == QColor(Qt::red);
    EXPECT_TRUE(hit) << "row " << y << " has a gap";
  }
  EXPECT_EQ(painted(img), 40);  // rows 2..40 once, plus the row where it changes column
}

TEST(LineRaster, ShallowSegmentHasOnePixelPerColumn) {
  QImage img = blank(40, 10);
  raster_polyline(img, {QPointF(0, 5), QPointF(30, 5)}, Qt::blue);
  EXPECT_EQ(painted(img), 31);
  for (int x = 0; x <= 30; ++x) EXPECT_EQ(img.pixelColor(x, 5), QColor(Qt::blue)) << x;
}

TEST(LineRaster, ClipsToTheImage) {
  QImage img = blank(10, 10);
  raster_polyline(img, {QPointF(-20, -5), QPointF(4, 4), QPointF(30, 40)}, Qt::green);
  EXPECT_GT(painted(img), 5);
  EXPECT_EQ(img.pixelColor(4, 4), QColor(Qt::green));
}

}  // namespace
}  // namespace dlab::views
