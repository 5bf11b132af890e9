#include "views/heatmap_widget.h"

#include <gtest/gtest.h>

#include <QFile>
#include <QImage>
#include <QTemporaryDir>
#include <QtTest/QTest>
#include <cmath>

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

// A square matrix (a 128 x 128 Jacobian) in a wide widget keeps square
// cells; without the option the cells stretch with the widget.
TEST(HeatmapWidget, SquareCellsStaySquareInAWideWidget) {
  HeatmapWidget h("J");
  h.resize(700, 300);
  h.setData(128, 128, std::vector<double>(128 * 128, 0.5));
  const QRectF stretched = h.cellRect(0, 0);
  EXPECT_GT(stretched.width() / stretched.height(), 2.0);
  h.setSquareCells(true);
  const QRectF cell = h.cellRect(0, 0);
  EXPECT_NEAR(cell.width(), cell.height(), 1e-9);
  const QRectF grid = h.cellRect(0, 0).united(h.cellRect(127, 127));
  EXPECT_NEAR(grid.width(), grid.height(), 1e-6);
  EXPECT_GT(grid.height(), 200);  // as large as the height allows (300 - 64)
  EXPECT_GE(grid.left(), 58);
  EXPECT_LE(grid.right(), 700 - 84);
}

// Ratios near 1 with the threshold at 1 + tau (the usefulness chart): bars
// grow from 1, the axis spans the values near 1, and the dashed line is drawn
// at the threshold's own row, above bars that do not reach it.
TEST(BarChartWidget, ABaselineOfOneShowsRatiosNearOneWithTheThresholdAtItsValue) {
  BarChartWidget b("usefulness");
  b.resize(400, 300);
  b.setBaseline(1.0);
  b.setData({"0", "1"}, {"ratio"}, {{1.002, 1.035}}, {QColor(0, 0, 255)});
  b.setThreshold(1.1, "1 + tau");
  b.show();
  const QImage img = b.grab().toImage();
  const int line = int(std::lround(b.valueY(1.1)));
  const int top = int(std::lround(b.valueY(1.035)));
  const int base = int(std::lround(b.valueY(1.0)));
  EXPECT_LT(line + 20, top) << "the 1 + tau line must sit well above a bar of 1.035";
  EXPECT_GT(base - top, 50) << "the axis must zoom near 1: a 0.035 excess is a visible bar";
  auto reddish = [](const QColor& c) { return c.red() > 150 && c.green() < 80 && c.blue() < 80; };
  int red_on_line = 0, red_elsewhere = 0;
  for (int x = 60; x < img.width() - 14; ++x) {
    for (int y = 24; y < img.height() - 40; ++y) {
      if (!reddish(img.pixelColor(x, y))) continue;
      (std::abs(y - line) <= 1 ? red_on_line : red_elsewhere)++;
    }
  }
  EXPECT_GT(red_on_line, 100) << "no dashed line at the row of 1.1";
  EXPECT_LT(red_elsewhere, 60);  // only the label's text
  // The second bar (1.035) is blue just under its top and not above it.
  const int x1 = int(0.75 * (58 + (400 - 12))) - 10;
  bool blue_below_top = false, blue_above_top = false;
  for (int x = x1 - 30; x < x1 + 30; ++x) {
    blue_below_top = blue_below_top || img.pixelColor(x, top + 3) == QColor(0, 0, 255);
    blue_above_top = blue_above_top || img.pixelColor(x, top - 4) == QColor(0, 0, 255);
  }
  EXPECT_TRUE(blue_below_top);
  EXPECT_FALSE(blue_above_top);
}

// The legend of several series sits in the top-right corner; the axis leaves
// room for it, so the tallest bars end below it (it once covered a bar).
TEST(BarChartWidget, TheLegendNeverCoversABar) {
  BarChartWidget b("weight sparsity");
  b.resize(500, 300);
  b.setData({"0", "1"}, {"eps 1e-4", "eps 1e-3", "eps 1e-2"},
            {{0.01, 0.01}, {0.03, 0.03}, {0.33, 0.33}},
            {QColor(0, 0, 255), QColor(0, 255, 0), QColor(255, 0, 0)});
  const double legend_bottom = 24 + 4 + 15.0 * 3;  // plot top, margin, three rows
  EXPECT_GE(b.valueY(0.33), legend_bottom);
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
