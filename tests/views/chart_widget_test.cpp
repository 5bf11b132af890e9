// The line chart with real painting (offscreen platform): what is shown, what
// is exported, log masking, smoothing, linked axes, repaint coalescing.
#include "views/chart_widget.h"

#include <gtest/gtest.h>

#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QImage>
#include <QTemporaryDir>
#include <QTextStream>
#include <QtTest/QTest>
#include <cmath>
#include <cstdio>
#include <vector>

#include "views/axis_link.h"

namespace dlab::views {
namespace {

struct CsvRow {
  QString series;
  double x, y;
};

std::vector<CsvRow> read_csv(const QString& path) {
  QFile f(path);
  EXPECT_TRUE(f.open(QIODevice::ReadOnly | QIODevice::Text));
  QTextStream in(&f);
  std::vector<CsvRow> rows;
  const QString header = in.readLine();
  EXPECT_EQ(header, "series,step,value");
  while (!in.atEnd()) {
    const QStringList parts = in.readLine().split(',');
    EXPECT_EQ(parts.size(), 3);
    QString name = parts[0];
    name.remove('"');
    rows.push_back({name, parts[1].toDouble(), parts[2].toDouble()});
  }
  return rows;
}

TEST(ChartWidget, CsvExportWritesExactlyTheDataShown) {
  ChartWidget chart("csv");
  chart.resize(600, 400);
  const int a = chart.addLine("a", Qt::blue);
  const int b = chart.addLine("b", Qt::red);
  std::vector<double> x, ya, yb;
  for (int i = 0; i < 50; ++i) {
    x.push_back(i);
    ya.push_back(i % 7 == 0 ? -1.0 : 0.5 + i);  // some values a log axis must mask
    yb.push_back(std::exp(0.1 * i));
  }
  chart.setLine(a, x, ya);
  chart.setLine(b, x, yb);
  chart.setLogY(true);
  QTemporaryDir dir;
  const QString path = dir.filePath("shown.csv");
  ASSERT_TRUE(chart.exportCsv(path));
  const auto rows = read_csv(path);
  const auto shown = chart.shownData();
  size_t n_shown = 0;
  for (const auto& s : shown) n_shown += s.x.size();
  ASSERT_EQ(rows.size(), n_shown);
  size_t r = 0;
  for (const auto& s : shown) {
    for (size_t k = 0; k < s.x.size(); ++k, ++r) {
      EXPECT_EQ(rows[r].series, s.name);
      EXPECT_EQ(rows[r].x, s.x[k]);  // 17 significant digits: exact
      EXPECT_EQ(rows[r].y, s.y[k]);
    }
  }
  // 50 points on a 500-px plot are not decimated: exactly the positive ones show.
  EXPECT_EQ(shown[0].x.size(), size_t(50 - 8));  // i = 0, 7, ..., 49 masked
  EXPECT_EQ(shown[1].x.size(), size_t(50));
  for (double v : shown[0].y) EXPECT_GT(v, 0.0);
  // The stored series is untouched by the display settings.
  EXPECT_EQ(chart.lineY(a), ya);
}

TEST(ChartWidget, LogAxisMasksZeroAndNegativeButShowsTheRest) {
  ChartWidget chart("log");
  chart.resize(500, 300);
  const int l = chart.addLine("v", QColor(255, 0, 0));
  const std::vector<double> y = {-1, 0, 1, 10, 100, -5, 1000, 0};
  std::vector<double> x;
  for (size_t i = 0; i < y.size(); ++i) x.push_back(double(i));
  chart.setLine(l, x, y);
  chart.setLogY(true);
  const auto shown = chart.shownData();
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0].y, (std::vector<double>{1, 10, 100, 1000}));
  EXPECT_EQ(shown[0].x, (std::vector<double>{2, 3, 4, 6}));
  // And they are painted: red pixels in the plot.
  chart.show();
  const QImage img = chart.grab().toImage();
  int red = 0;
  for (int yy = 0; yy < img.height(); ++yy) {
    for (int xx = 0; xx < img.width(); ++xx) {
      const QColor c = img.pixelColor(xx, yy);
      red += c.red() > 200 && c.green() < 80 && c.blue() < 80;
    }
  }
  EXPECT_GT(red, 50);
  EXPECT_EQ(chart.lineY(l), y);
  // Back to linear: every point shows again.
  chart.setLogY(false);
  EXPECT_EQ(chart.shownData()[0].y.size(), y.size());
}

TEST(ChartWidget, LogXMasksStepZero) {
  ChartWidget chart("logx");
  chart.resize(500, 300);
  chart.setLine(chart.addLine("v", Qt::black), {0, 1, 10, 100}, {5, 6, 7, 8});
  chart.setLogX(true);
  EXPECT_EQ(chart.shownData()[0].x, (std::vector<double>{1, 10, 100}));
}

TEST(ChartWidget, DecimatesLongSeriesAndKeepsSpikes) {
  ChartWidget chart("long");
  chart.resize(800, 400);
  std::vector<double> x(20000), y(20000, 1.0);
  for (int i = 0; i < 20000; ++i) x[size_t(i)] = i;
  y[4321] = 99.0;
  chart.setLine(chart.addLine("v", Qt::black), x, y);
  const auto shown = chart.shownData();
  EXPECT_LE(shown[0].x.size(), size_t(2 * 800));
  EXPECT_GT(shown[0].x.size(), size_t(100));
  EXPECT_NE(std::find(shown[0].y.begin(), shown[0].y.end(), 99.0), shown[0].y.end());
}

TEST(ChartWidget, SmoothingShowsTheEmaWithoutTouchingTheSeries) {
  ChartWidget chart("ema");
  chart.resize(500, 300);
  const int l = chart.addLine("v", Qt::black);
  chart.setLine(l, {0, 1, 2}, {0, 10, 10});
  chart.setSmoothing(true, 0.5);
  chart.appendPoint(l, 3, 10);  // incremental EMA
  const auto shown = chart.shownData();
  EXPECT_EQ(shown[0].y, (std::vector<double>{0, 5, 7.5, 8.75}));
  EXPECT_EQ(chart.lineY(l), (std::vector<double>{0, 10, 10, 10}));
  chart.setSmoothing(false);
  EXPECT_EQ(chart.shownData()[0].y, (std::vector<double>{0, 10, 10, 10}));
}

TEST(ChartWidget, LinkedChartsShareTheXRange) {
  AxisLink link;
  ChartWidget a("a"), b("b");
  for (ChartWidget* c : {&a, &b}) {
    c->resize(500, 300);
    std::vector<double> x, y;
    for (int i = 0; i < 100; ++i) {
      x.push_back(i);
      y.push_back(i);
    }
    c->setLine(c->addLine("v", Qt::black), x, y);
    c->setXLink(&link);
  }
  a.setXRange(20, 30);
  const auto sb = b.shownData()[0].x;
  ASSERT_FALSE(sb.empty());
  EXPECT_EQ(sb.front(), 20);
  EXPECT_EQ(sb.back(), 30);
  b.resetZoom();
  EXPECT_EQ(a.shownData()[0].x.size(), 100u);
}

TEST(ChartWidget, AppendsAreCoalescedIntoAtMostThirtyRepaintsPerSecond) {
  ChartWidget chart("rate");
  chart.resize(400, 300);
  const int l = chart.addLine("v", Qt::black);
  chart.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&chart));
  int paints = 0;
  QObject::connect(&chart, &ChartWidget::painted, [&](double) { ++paints; });
  QElapsedTimer t;
  t.start();
  int i = 0;
  while (t.elapsed() < 500) {  // ~1000 appends per second for half a second
    chart.appendPoint(l, i, i % 13);
    ++i;
    if (i % 10 == 0) QTest::qWait(5);  // the event loop runs, as in the app
  }
  std::printf("%d appends, %d paints in %lld ms\n", i, paints, static_cast<long long>(t.elapsed()));
  EXPECT_GT(i, 100);
  EXPECT_GE(paints, 3);
  EXPECT_LE(paints, 500 / ChartWidget::kRepaintMs + 3);
}

TEST(ChartWidget, ExportsPngAndSvg) {
  ChartWidget chart("export");
  chart.resize(400, 300);
  chart.setLine(chart.addLine("v", Qt::black), {0, 1, 2}, {1, 3, 2});
  QTemporaryDir dir;
  ASSERT_TRUE(chart.exportPng(dir.filePath("c.png")));
  ASSERT_TRUE(chart.exportSvg(dir.filePath("c.svg")));
  QImage png(dir.filePath("c.png"));
  EXPECT_EQ(png.width(), 800);  // 2x device pixel ratio
  QFile svg(dir.filePath("c.svg"));
  ASSERT_TRUE(svg.open(QIODevice::ReadOnly));
  const QByteArray text = svg.readAll();
  EXPECT_TRUE(text.contains("<svg"));
  EXPECT_TRUE(text.contains("polyline") || text.contains("path"));
}

}  // namespace
}  // namespace dlab::views
