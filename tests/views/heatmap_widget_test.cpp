#include "views/heatmap_widget.h"

#include <gtest/gtest.h>

#include <QFile>
#include <QImage>
#include <QTemporaryDir>
#include <QtTest/QTest>

#include "views/bar_chart_widget.h"

namespace dlab::views {
namespace {

QColor pixel_at(QWidget& w, QPointF p) {
  const QImage img = w.grab().toImage();
  return img.pixelColor(p.toPoint());
}

TEST(HeatmapWidget, CellPixelHasTheColourMapColourOfItsValue) {
  HeatmapWidget h("known");
  h.resize(500, 400);
  h.setData(3, 4, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  h.setSequential();
  h.show();
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 4; ++c) {
      const QColor want = ColorMap::sequential(0, 11).color(h.value(r, c));
      EXPECT_EQ(pixel_at(h, h.cellRect(r, c).center()), want) << "cell " << r << "," << c;
    }
  }
}

TEST(HeatmapWidget, IdentityCentredDivergingMapsTheIdentityToWhite) {
  HeatmapWidget h("jacobian");
  h.resize(400, 400);
  // J = I + small off-diagonal: the diagonal (J - I = 0) must be white.
  h.setData(2, 2, {1.0, 0.5, -0.25, 1.0});
  h.setIdentityCentre(true);
  h.show();
  EXPECT_EQ(pixel_at(h, h.cellRect(0, 0).center()), QColor(247, 247, 247));
  EXPECT_EQ(pixel_at(h, h.cellRect(1, 1).center()), QColor(247, 247, 247));
  EXPECT_EQ(pixel_at(h, h.cellRect(0, 1).center()), ColorMap::diverging(0, 0.5).color(0.5));
  EXPECT_EQ(pixel_at(h, h.cellRect(0, 1).center()), QColor(180, 4, 38));  // the red end
}

TEST(HeatmapWidget, HoverReadsRowColumnAndValue) {
  HeatmapWidget h("hover");
  h.resize(500, 400);
  h.setData(2, 3, {1, 2, 3, 4, 5, 6.5});
  h.setAxes("layer", "step", {"L1", "L2"}, {"10", "20", "30"});
  h.show();
  QTest::mouseMove(&h, h.cellRect(1, 2).center().toPoint());
  EXPECT_EQ(h.hoverText(), "layer L2, step 30: 6.5");
}

TEST(BarChartWidget, PaintsBarsAndTheThreshold) {
  BarChartWidget b("bars");
  b.resize(400, 300);
  b.setData({"0", "1"}, {"u"}, {{0.5, 2.0}}, {QColor(0, 0, 255)});
  b.setThreshold(1.0, "tau = 1");
  b.show();
  const QImage img = b.grab().toImage();
  int blue = 0, red = 0;
  for (int y = 0; y < img.height(); ++y) {
    for (int x = 0; x < img.width(); ++x) {
      const QColor c = img.pixelColor(x, y);
      blue += c == QColor(0, 0, 255);
      red += c.red() > 150 && c.green() < 80 && c.blue() < 80;
    }
  }
  EXPECT_GT(blue, 1000);
  EXPECT_GT(red, 20);  // the dashed tau line
}

// Every plot exports PNG, SVG and CSV of what it shows (views/plot_frame.h).
QByteArray file_text(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

TEST(PlotExport, HeatmapsAndBarChartsExportPngSvgAndCsv) {
  QTemporaryDir dir;
  HeatmapWidget h("heat");
  h.resize(300, 200);
  h.setAxes("block", "step", {"0", "1"}, {"10", "20", "30"});
  h.setData(2, 3, {1, 2, 3, 4, 5, 6.5});
  ASSERT_TRUE(h.exportPng(dir.filePath("h.png")));
  ASSERT_TRUE(h.exportSvg(dir.filePath("h.svg")));
  ASSERT_TRUE(h.exportCsv(dir.filePath("h.csv")));
  EXPECT_EQ(QImage(dir.filePath("h.png")).width(), 600);  // 2x
  EXPECT_TRUE(file_text(dir.filePath("h.svg")).contains("<svg"));
  EXPECT_EQ(file_text(dir.filePath("h.csv")),
            "row,col,value\n0,10,1\n0,20,2\n0,30,3\n1,10,4\n1,20,5\n1,30,6.5\n");

  BarChartWidget b("bars");
  b.resize(300, 200);
  b.setData({"0", "1"}, {"eps 1e-3", "eps \"x\""}, {{0.25, 0.5}, {0.75, 1}},
            {QColor(0, 0, 255), QColor(255, 0, 0)});
  ASSERT_TRUE(b.exportPng(dir.filePath("b.png")));
  ASSERT_TRUE(b.exportSvg(dir.filePath("b.svg")));
  ASSERT_TRUE(b.exportCsv(dir.filePath("b.csv")));
  EXPECT_EQ(QImage(dir.filePath("b.png")).width(), 600);
  EXPECT_TRUE(file_text(dir.filePath("b.svg")).contains("<svg"));
  EXPECT_EQ(file_text(dir.filePath("b.csv")),
            "group,series,value\n\"0\",\"eps 1e-3\",0.25\n\"1\",\"eps 1e-3\",0.5\n"
            "\"0\",\"eps \"\"x\"\"\",0.75\n\"1\",\"eps \"\"x\"\"\",1\n");
  EXPECT_FALSE(b.exportCsv(dir.filePath("no/such/dir/b.csv")));
}

}  // namespace
}  // namespace dlab::views
