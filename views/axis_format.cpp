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
