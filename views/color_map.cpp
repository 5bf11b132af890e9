#include "views/color_map.h"

#include <algorithm>
#include <cmath>

namespace dlab::views {
namespace {

struct Stop {
  double t;
  int r, g, b;
};

QColor interpolate(const Stop* stops, int n, double t) {
  t = std::clamp(t, 0.0, 1.0);
  for (int i = 1; i < n; ++i) {
    if (t <= stops[i].t) {
      const Stop& a = stops[i - 1];
      const Stop& b = stops[i];
      const double u = (t - a.t) / (b.t - a.t);
      return QColor(int(std::lround(a.r + u * (b.r - a.r))),
                    int(std::lround(a.g + u * (b.g - a.g))),
                    int(std::lround(a.b + u * (b.b - a.b))));
    }
  }
  return QColor(stops[n - 1].r, stops[n - 1].g, stops[n - 1].b);
}

// viridis sampled at 9 points (matplotlib's table); linear in between is
// indistinguishable on screen.
constexpr Stop kViridis[] = {{0.000, 68, 1, 84},    {0.125, 71, 44, 122},  {0.250, 59, 81, 139},
                             {0.375, 44, 113, 142}, {0.500, 33, 144, 141}, {0.625, 39, 173, 129},
                             {0.750, 92, 200, 99},  {0.875, 170, 220, 50}, {1.000, 253, 231, 37}};
// Moreland's cool-warm, white in the middle so "no deviation" reads as blank.
constexpr Stop kCoolwarm[] = {{0.00, 59, 76, 192},
                              {0.25, 141, 176, 254},
                              {0.50, 247, 247, 247},
                              {0.75, 244, 154, 123},
                              {1.00, 180, 4, 38}};

}  // namespace

ColorMap ColorMap::sequential(double lo, double hi, double t_max) {
  ColorMap m;
  m.t_max_ = std::clamp(t_max, 0.0, 1.0);
  m.kind_ = Kind::Sequential;
  m.lo_ = lo;
  m.hi_ = hi > lo ? hi : lo + 1.0;  // a constant field still gets a valid range
  return m;
}

ColorMap ColorMap::diverging(double centre, double half_width) {
  ColorMap m;
  m.kind_ = Kind::Diverging;
  const double h = half_width > 0 && std::isfinite(half_width) ? half_width : 1.0;
  m.lo_ = centre - h;
  m.hi_ = centre + h;
  return m;
}

double ColorMap::position(double v) const { return std::clamp((v - lo_) / (hi_ - lo_), 0.0, 1.0); }

QColor ColorMap::color(double v) const {
  if (!std::isfinite(v)) return QColor(128, 128, 128);
  const double t = position(v) * (kind_ == Kind::Sequential ? t_max_ : 1.0);
  return kind_ == Kind::Sequential ? viridis(t) : coolwarm(t);
}

QColor ColorMap::viridis(double t) { return interpolate(kViridis, 9, t); }
QColor ColorMap::coolwarm(double t) { return interpolate(kCoolwarm, 5, t); }

ColorMap depth_map(int n) {
  // Stop short of viridis' pale yellow end, which vanishes on a light background.
  return ColorMap::sequential(1, std::max(n, 2), 0.92);
}

QColor depth_color(int i, int n) { return depth_map(n).color(i + 1); }

}  // namespace dlab::views
