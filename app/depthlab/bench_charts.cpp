#include "bench_charts.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QTimer>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "views/chart_widget.h"
#include "views/color_map.h"

namespace dlab::gui {

int bench_charts(int seconds) {
  constexpr int kSeries = 32, kPoints = 20000, kHz = 30;
  views::ChartWidget chart("bench: 32 layers x 20,000 points");
  chart.resize(1200, 700);
  chart.setLogY(true);
  chart.setColorBar("layer", views::depth_map(kSeries), 1, kSeries);
  // Series shaped like residual variance: growing with depth and steps, noisy,
  // with rare spikes (which decimation must keep).
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 0.05);
  auto value = [&](int l, int64_t step) {
    const double base = (1.0 + l) * (1.0 + 1e-4 * double(step));
    const double spike = (step % 4999 == 0) ? 5.0 : 1.0;
    return base * spike * std::exp(noise(rng));
  };
  for (int l = 0; l < kSeries; ++l) {
    std::vector<double> x(kPoints), y(kPoints);
    for (int k = 0; k < kPoints; ++k) {
      x[size_t(k)] = k;
      y[size_t(k)] = value(l, k);
    }
    chart.setLine(chart.addLine(QString("layer %1").arg(l + 1), views::depth_color(l, kSeries)),
                  std::move(x), std::move(y));
  }
  chart.show();
  QApplication::processEvents();

  std::vector<double> frames, cpu;
  QObject::connect(&chart, &views::ChartWidget::painted, [&](double ms) {
    frames.push_back(ms);
    cpu.push_back(chart.lastPaintCpuMs());
  });
  int64_t step = kPoints;
  QTimer feed;
  feed.setInterval(1000 / kHz);
  QObject::connect(&feed, &QTimer::timeout, [&] {
    for (int l = 0; l < kSeries; ++l) chart.appendPoint(l, double(step), value(l, step));
    ++step;
  });
  QElapsedTimer wall;
  wall.start();
  feed.start();
  QEventLoop loop;
  QTimer::singleShot(seconds * 1000, &loop, &QEventLoop::quit);
  loop.exec();
  feed.stop();
  if (frames.size() < 2) {
    std::fprintf(stderr, "bench-charts: only %zu frames were painted (is a display available?)\n",
                 frames.size());
    return 1;
  }
  // The first paint includes widget set-up.
  frames.erase(frames.begin());
  cpu.erase(cpu.begin());
  auto quantile = [](std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, size_t(std::ceil(q * double(v.size()))) - 1)];
  };
  const double median = quantile(frames, 0.5), p99 = quantile(frames, 0.99);
  const double max = quantile(frames, 1.0);
  std::printf(
      "bench-charts: %d series x %d points (+%lld appended at %d Hz), %zu frames in %.1f s, "
      "%dx%d px, platform %s\n",
      kSeries, kPoints, static_cast<long long>(step - kPoints), kHz, frames.size(),
      double(wall.elapsed()) / 1000.0, chart.width(), chart.height(),
      qPrintable(QApplication::platformName()));
  std::printf("frame time: median %.2f ms, p99 %.2f ms, max %.2f ms (target: median <= 16 ms)\n",
              median, p99, max);
  std::printf("frame CPU time (this thread): median %.2f ms, p99 %.2f ms\n", quantile(cpu, 0.5),
              quantile(cpu, 0.99));
  double load[3] = {0, 0, 0};
  if (::getloadavg(load, 3) > 0) std::printf("load average at the end: %.2f\n", load[0]);
  return median <= 16.0 ? 0 : 1;
}

}  // namespace dlab::gui
