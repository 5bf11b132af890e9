#include "views/axis_format.h"

#include <cmath>

namespace dlab::views {

std::vector<double> nice_ticks(double lo, double hi, int max_ticks, bool integers) {
  std::vector<double> ticks;
  if (!(hi > lo) || max_ticks < 2) return ticks;
  const double raw = (hi - lo) / max_ticks;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  if (integers) step = std::max(1.0, step);
  for (double t = std::ceil(lo / step) * step; t <= hi + 1e-9 * step; t += step) {
    ticks.push_back(std::abs(t) < 1e-12 * step ? 0.0 : t);
  }
  return ticks;
}

std::vector<double> log_ticks(double t0, double t1, int max_ticks) {
  std::vector<double> t;
  if (!(t1 > t0)) return t;
  for (double d = std::ceil(t0); d <= std::floor(t1); d += 1) t.push_back(d);
  if (t.size() >= 3) return t;
  // Less than ~2 decades: 1, 2, 5 x 10^k reads better than one or two decades.
  t.clear();
  for (double d = std::floor(t0); d <= std::ceil(t1); d += 1) {
    for (double m : {1.0, 2.0, 5.0}) {
      const double tick = d + std::log10(m);
      if (tick >= t0 && tick <= t1) t.push_back(tick);
    }
  }
  if (int(t.size()) > max_ticks + 2) {  // too dense: decades and 5s only
    std::vector<double> thin;
    for (double tick : t) {
      const double frac = tick - std::floor(tick + 1e-9);
      if (frac < 1e-6 || std::abs(frac - std::log10(5.0)) < 1e-6) thin.push_back(tick);
    }
    t = thin;
  }
  if (t.size() >= 3 || max_ticks < 3) return t;
  // Within about a decade: round values in the data's own units.
  std::vector<double> linear;
  for (double v : nice_ticks(std::pow(10.0, t0), std::pow(10.0, t1), max_ticks)) {
    if (v > 0) linear.push_back(std::log10(v));
  }
  return linear.size() > t.size() ? linear : t;
}

QString format_tick(double v, int digits) {
  if (!std::isfinite(v)) return QStringLiteral("nan");
  if (v == 0) return QStringLiteral("0");
  const double a = std::abs(v);
  if (a < 1e7 && a >= 1 && std::abs(v - std::round(v)) < 1e-9 * a) {
    return QString::number(static_cast<long long>(std::llround(v)));
  }
  if (a >= 1e5 || a < 1e-3) return QString::number(v, 'e', std::max(0, digits - 2));
  return QString::number(v, 'g', digits);
}

}  // namespace dlab::views
