#include "views/decimate.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dlab::views {

std::vector<int64_t> decimate_minmax(const double* x, const double* y, int64_t n, double x0,
                                     double x1, int buckets) {
  std::vector<int64_t> out;
  if (n <= 0 || buckets <= 0 || !(x1 >= x0)) return out;
  // Visible index range by binary search (x is sorted), widened by one point
  // on each side. NaN x values (log of step 0) sort nowhere: they are skipped below.
  int64_t first = std::lower_bound(x, x + n, x0) - x;
  int64_t last = std::upper_bound(x, x + n, x1) - x;  // one past
  first = std::max<int64_t>(0, first - 1);
  last = std::min<int64_t>(n, last + 1);
  out.reserve(size_t(std::min<int64_t>(last - first, 2 * int64_t(buckets) + 4)));

  const double scale = x1 > x0 ? buckets / (x1 - x0) : 0.0;
  int64_t bucket = INT64_MIN;
  int64_t imin = -1, imax = -1;
  bool gap_pending = false;
  auto flush = [&] {
    if (imin < 0) return;
    if (gap_pending && !out.empty()) out.push_back(kGap);
    gap_pending = false;
    if (imin == imax) {
      out.push_back(imin);
    } else {
      out.push_back(std::min(imin, imax));
      out.push_back(std::max(imin, imax));
    }
    imin = imax = -1;
  };
  // x is sorted, so a point starts a new bucket only once it reaches the
  // current bucket's right edge: one compare per point, floor() per bucket.
  double next_edge = -std::numeric_limits<double>::infinity();
  for (int64_t i = first; i < last; ++i) {
    const double xi = x[i], yi = y[i];
    if (std::isnan(xi) || std::isnan(yi)) {
      flush();
      gap_pending = true;
      continue;
    }
    if (xi >= next_edge) {
      const int64_t b = int64_t(std::floor((xi - x0) * scale));
      if (b != bucket) {
        flush();
        bucket = b;
      }
      next_edge = scale > 0 ? x0 + double(b + 1) / scale : std::numeric_limits<double>::infinity();
    }
    if (imin < 0 || yi < y[imin]) imin = i;
    if (imax < 0 || yi > y[imax]) imax = i;
  }
  flush();
  return out;
}

}  // namespace dlab::views
