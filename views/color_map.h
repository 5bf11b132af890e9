// Colour maps for heatmaps, layer strips and per-layer line colours.
// Sequential (viridis: perceptually even, readable in grey) for magnitudes;
// diverging (blue-white-red) centred on a reference value for signed deviations.
#pragma once

#include <QColor>

namespace dlab::views {

class ColorMap {
 public:
  enum class Kind { Sequential, Diverging };

  // Values lo..hi map to the ends of viridis.
  // t_max < 1 stops short of the light end (lines on a light background).
  static ColorMap sequential(double lo, double hi, double t_max = 1.0);
  // centre maps to white, centre -/+ half_width to the blue/red ends.
  static ColorMap diverging(double centre, double half_width);

  // NaN -> neutral grey; values outside the range clamp to the ends.
  QColor color(double v) const;
  // Position of v in [0, 1] along the map (the colour bar's axis).
  double position(double v) const;
  double lo() const { return lo_; }
  double hi() const { return hi_; }
  Kind kind() const { return kind_; }

  static QColor viridis(double t);   // t in [0, 1]
  static QColor coolwarm(double t);  // t in [0, 1], 0.5 is white

 private:
  Kind kind_ = Kind::Sequential;
  double lo_ = 0.0, hi_ = 1.0, t_max_ = 1.0;
};

// Colours of layers 1..n by depth (shallow = dark purple, deep = green-yellow):
// depth_map(n).color(i + 1) == depth_color(i, n), for the colour-bar legend.
ColorMap depth_map(int n);
QColor depth_color(int i, int n);

}  // namespace dlab::views
