#include "views/line_raster.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace dlab::views {

namespace {

struct Target {
  uint32_t* bits;
  int64_t stride;  // in pixels
  int w, h;
  uint32_t argb;
  // Fills column x from row y0 to row y1 (inclusive, any order), clipped.
  void span(int x, double y0, double y1) const {
    if (x < 0 || x >= w) return;
    int a = int(std::floor(std::min(y0, y1) + 0.5)), b = int(std::floor(std::max(y0, y1) + 0.5));
    a = std::max(a, 0);
    b = std::min(b, h - 1);
    for (int y = a; y <= b; ++y) bits[int64_t(y) * stride + x] = argb;
  }
};

// One segment: in each pixel column it crosses, the rows between the
// segment's heights at the column's left and right edges.
void raster_segment(const Target& t, QPointF a, QPointF b) {
  const int c0 = int(std::floor(a.x() + 0.5)), c1 = int(std::floor(b.x() + 0.5));
  if (c1 == c0) {
    t.span(c0, a.y(), b.y());
    return;
  }
  const double slope = (b.y() - a.y()) / (b.x() - a.x());
  const int lo = std::max(c0, 0), hi = std::min(c1, t.w - 1);
  for (int c = lo; c <= hi; ++c) {
    const double xl = std::max(a.x(), c - 0.5), xr = std::min(b.x(), c + 0.5);
    t.span(c, a.y() + (xl - a.x()) * slope, a.y() + (xr - a.x()) * slope);
  }
}

}  // namespace

void raster_polyline(QImage& image, const std::vector<QPointF>& points, const QColor& color) {
  if (points.empty() || image.isNull()) return;
  const Target t{reinterpret_cast<uint32_t*>(image.bits()), image.bytesPerLine() / 4, image.width(),
                 image.height(), color.rgba() | 0xff000000u};
  if (points.size() == 1) {
    t.span(int(std::floor(points[0].x() + 0.5)), points[0].y(), points[0].y());
    return;
  }
  for (size_t i = 1; i < points.size(); ++i) raster_segment(t, points[i - 1], points[i]);
}

}  // namespace dlab::views
