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
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
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
  chart.resize(2000, 300);
  const int l = chart.addLine("v", Qt::black);
  std::vector<double> x{0}, y{0};
  for (int s = 1; s < 39; ++s) {
    x.push_back(s);
    y.push_back(10);
  }
  chart.setLine(l, x, y);
  chart.setSmoothing(true, 0.5);
  chart.appendPoint(l, 39, 10);  // incremental
  const auto shown = chart.shownData();
  ASSERT_EQ(shown[0].y.size(), 40u);
  // Debiased: sum of 0.5^age * value / sum of 0.5^age (one step per point).
  EXPECT_DOUBLE_EQ(shown[0].y[0], 0.0);
  EXPECT_DOUBLE_EQ(shown[0].y[1], 10.0 / 1.5);
  EXPECT_DOUBLE_EQ(shown[0].y[2], 15.0 / 1.75);
  EXPECT_NEAR(shown[0].y[39], 10.0, 1e-9);
  EXPECT_EQ(chart.lineY(l).size(), 40u);
  EXPECT_EQ(chart.lineY(l)[1], 10.0);  // the series itself is untouched
  chart.setSmoothing(false);
  EXPECT_EQ(chart.shownData()[0].y, chart.lineY(l));
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

// The hover read-out gives each value its own step: validation every 25
// steps read at step 225 says 200 for itself while train loss says 225, and
// the header is where the cursor is. It leaves with the mouse and never
// shows in an exported image.
TEST(ChartWidget, HoverGivesEachValueItsOwnStepAndStaysOutOfExports) {
  ChartWidget chart("loss");
  chart.resize(500, 300);
  std::vector<double> x, y, vx, vy;
  for (int s = 0; s <= 300; ++s) {
    x.push_back(s);
    y.push_back(5.0 - 0.01 * s);
  }
  for (int s = 0; s <= 300; s += 25) {
    vx.push_back(s);
    vy.push_back(6.0 - 0.01 * s);
  }
  chart.setLine(chart.addLine("train", Qt::blue), x, y);
  chart.setLine(chart.addLine("val", Qt::red), vx, vy);
  chart.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&chart));
  QTemporaryDir dir;
  ASSERT_TRUE(chart.exportPng(dir.filePath("before.png")));
  // The cursor where step 212 is drawn (plot from x = 58 to 500 - 12 by the chart's margins):
  // nearest validation point 200, nearest train point 212.
  const std::vector<ChartWidget::ShownLine> shown = chart.shownData();
  ASSERT_FALSE(shown.empty());
  int px = -1;
  for (int xx = 60; xx < 490 && px < 0; ++xx) {
    QTest::mouseMove(&chart, QPoint(xx, 150));
    const QStringList t = chart.hoverText();
    if (!t.isEmpty() && t[0] == "step 212") px = xx;
  }
  ASSERT_GE(px, 0) << "no cursor position reads step 212";
  const QStringList rows = chart.hoverText();
  ASSERT_EQ(rows.size(), 3) << rows.join(" | ").toStdString();
  const QString joined = rows.join(" | ");
  EXPECT_TRUE(joined.contains("train = 2.88  (step 212)")) << joined.toStdString();
  EXPECT_TRUE(joined.contains("val = 4  (step 200)")) << joined.toStdString();
  // Exports never carry the read-out: the image is the same with the mouse over it.
  ASSERT_TRUE(chart.exportPng(dir.filePath("hovered.png")));
  EXPECT_EQ(QImage(dir.filePath("hovered.png")), QImage(dir.filePath("before.png")));
  // On screen it shows, and it leaves with the mouse.
  const QImage with_readout = chart.grab().toImage();
  QEvent leave(QEvent::Leave);
  QApplication::sendEvent(&chart, &leave);
  EXPECT_TRUE(chart.hoverText().isEmpty());
  EXPECT_NE(chart.grab().toImage(), with_readout) << "the read-out is not drawn on screen";

  // Live data does not move it: with the mouse still, 300 more steps double
  // the x axis, and the read-out stays on step 212 with the same values.
  QTest::mouseMove(&chart, QPoint(px - 20, 150));  // (a move to the same point is no event)
  QTest::mouseMove(&chart, QPoint(px, 150));
  ASSERT_EQ(chart.hoverText(), rows);
  for (int s = 301; s <= 600; ++s) {
    chart.appendPoint(0, s, 5.0 - 0.01 * s);
    if (s % 25 == 0) chart.appendPoint(1, s, 6.0 - 0.01 * s);
    if (s % 50 == 0) {
      chart.flushRepaint();
      QApplication::processEvents();
    }
  }
  // (The rows are ordered by how near each line passes the cursor's height,
  // which the new points' y range may change; the step and values may not.)
  QStringList after = chart.hoverText(), before = rows;
  after.sort();
  before.sort();
  EXPECT_EQ(after, before) << chart.hoverText().join(" | ").toStdString();
  // Nor does it survive the chart being refilled (another run opened).
  chart.clearLines();
  chart.setLine(chart.addLine("train", Qt::blue), x, y);
  EXPECT_TRUE(chart.hoverText().isEmpty()) << chart.hoverText().join(" | ").toStdString();
}

// A series of one point (a single validation, the first step) is visible:
// a dot, not one pixel.
TEST(ChartWidget, AOnePointSeriesIsADot) {
  ChartWidget chart("one");
  chart.resize(300, 200);
  chart.setLine(chart.addLine("val", QColor(255, 0, 0)), {10}, {2.5});
  const QImage img = chart.grab().toImage();
  int red = 0;
  for (int y = 0; y < img.height(); ++y)
    for (int x = 0; x < img.width(); ++x) {
      const QColor c = img.pixelColor(x, y);
      red += c.red() > 150 && c.green() < 120 && c.blue() < 120;
    }
  EXPECT_GE(red, 12) << "the point is too small to see";
}

// Smoothing is by step distance: a dense series smoothed is the same within
// 1 % when every other point is dropped (an EMA over point index was off by
// 10 % on this series), and a 9-point validation series is drawn as it is.
TEST(ChartWidget, SmoothingIsByStepsNotByPointsAndSkipsShortSeries) {
  auto f = [](double s) { return 5.0 - 0.5 * std::log(1.0 + s) + 0.2 * std::sin(s / 5.0); };
  std::vector<double> x, y, x2, y2;
  for (int s = 0; s <= 600; ++s) {
    x.push_back(s);
    y.push_back(f(s));
    if (s % 2 == 0) {
      x2.push_back(s);
      y2.push_back(f(s));
    }
  }
  ChartWidget dense("dense"), sparse("every other step");
  for (ChartWidget* c : {&dense, &sparse}) {
    c->resize(4000, 300);  // wide: decimation keeps every point
    c->setSmoothing(true, 0.9);
  }
  dense.setLine(dense.addLine("loss", Qt::blue), x, y);
  sparse.setLine(sparse.addLine("loss", Qt::blue), x2, y2);
  const auto a = dense.shownData()[0], b = sparse.shownData()[0];
  std::map<double, double> at;
  for (size_t k = 0; k < a.x.size(); ++k) at[a.x[k]] = a.y[k];
  size_t compared = 0;
  double worst = 0;
  for (size_t k = 0; k < b.x.size(); ++k) {
    if (b.x[k] < 30 || !at.count(b.x[k])) continue;
    worst = std::max(worst, std::abs(b.y[k] - at[b.x[k]]) / std::abs(at[b.x[k]]));
    ++compared;
  }
  EXPECT_GT(compared, 250u);
  EXPECT_LT(worst, 0.01);
  // Smoothing changed the dense curve (it is on).
  EXPECT_GT(std::abs(at[300] - f(300)), 1e-3);

  ChartWidget val("validation");
  val.resize(600, 300);
  val.setSmoothing(true, 0.9);
  std::vector<double> vx, vy;
  for (int s = 0; s <= 200; s += 25) {
    vx.push_back(s);
    vy.push_back(f(s));
  }
  val.setLine(val.addLine("val", Qt::red), vx, vy);
  EXPECT_EQ(val.shownData()[0].y, vy) << "a 9-point series must not be smoothed";
  // Live appends: the line is smoothed once it has enough points.
  ChartWidget live("live");
  live.resize(4000, 300);
  live.setSmoothing(true, 0.9);
  const int l = live.addLine("loss", Qt::blue);
  for (int s = 0; s <= 100; ++s) live.appendPoint(l, s, f(s));
  live.flushRepaint();
  const auto shown = live.shownData()[0];
  ASSERT_EQ(shown.x.size(), 101u);
  for (size_t k = 0; k < shown.x.size(); ++k)
    ASSERT_NEAR(shown.y[k], at[shown.x[k]], 1e-12) << "appended and set smoothing differ at " << k;
}

// The highest drawn pixels of a blue line: the row of the topmost blue-ish
// pixel and the darkest red component among the pixels of the five rows from
// there (full blue: ~0; the faint raw copy blended over the background: >100).
struct LineTop {
  int row = -1;
  int darkest_red = 255;
};
LineTop blue_line_top(const QImage& img) {
  LineTop t;
  auto blueish = [](const QColor& c) { return c.blue() - c.red() > 40 && c.red() == c.green(); };
  for (int y = 0; y < img.height() && t.row < 0; ++y)
    for (int x = 0; x < img.width(); ++x)
      if (blueish(img.pixelColor(x, y))) t.row = y;
  for (int y = std::max(0, t.row); y < std::min(img.height(), t.row + 5); ++y)
    for (int x = 0; x < img.width(); ++x)
      if (blueish(img.pixelColor(x, y)))
        t.darkest_red = std::min(t.darkest_red, img.pixelColor(x, y).red());
  return t;
}

// Smoothed, a series shows its raw values faintly under the curve, and the y
// axis keeps them in view: a spike the smoothing flattens is still drawn, at
// the top, faint. Unsmoothed, or too short to smooth, the spike is the line itself.
TEST(ChartWidget, TheRawSeriesShowsFaintlyUnderTheSmoothedOne) {
  std::vector<double> x, y;
  for (int s = 0; s < 200; ++s) {
    x.push_back(s);
    y.push_back(s == 100 || s == 4 ? 10.0 : 2.0);
  }
  ChartWidget chart("spike");
  chart.resize(600, 300);
  chart.setLine(chart.addLine("loss", QColor(0, 0, 255)), x, y);
  const LineTop plain = blue_line_top(chart.grab().toImage());
  ASSERT_GE(plain.row, 0);
  EXPECT_LT(plain.darkest_red, 60) << "unsmoothed, the spike is drawn in full";

  chart.setSmoothing(true, 0.9);
  const auto shown = chart.shownData()[0];
  EXPECT_LT(*std::max_element(shown.y.begin() + 30, shown.y.end()), 4.0) << "not smoothed";
  const LineTop smoothed = blue_line_top(chart.grab().toImage());
  EXPECT_NEAR(smoothed.row, plain.row, 3) << "the raw spike is out of view or not drawn";
  EXPECT_GT(smoothed.darkest_red, 100) << "the raw spike is not faint";

  ChartWidget short_series("short");
  short_series.resize(600, 300);
  short_series.setSmoothing(true, 0.9);
  short_series.setLine(short_series.addLine("val", QColor(0, 0, 255)),
                       std::vector<double>(x.begin(), x.begin() + 9),
                       std::vector<double>(y.begin(), y.begin() + 9));
  EXPECT_LT(blue_line_top(short_series.grab().toImage()).darkest_red, 60)
      << "a series too short to smooth is drawn as it is";
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
