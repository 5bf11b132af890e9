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

std::vector<int64_t> MinMaxCache::select(const double* x, const double* y, int64_t n, double x0,
                                         double x1, int buckets) {
  std::vector<int64_t> out;
  if (n <= 0 || buckets <= 0 || !(x1 >= x0)) return out;
  const double raw = x1 > x0 ? (x1 - x0) / buckets : 1.0;
  const double width = std::exp2(std::ceil(std::log2(raw)));
  if (width != width_ || n < n_done_) {
    width_ = width;
    idx_.clear();
    gap_.clear();
    open_start_ = 0;
    open_gap_ = false;
    open_kept_ = 0;
    n_done_ = 0;
  }
  extend(x, y, n);
  // Kept points inside [x0, x1] plus one neighbour on each side.
  auto xat = [&](size_t j) { return x[idx_[j]]; };
  size_t lo = 0, hi = idx_.size();
  {
    size_t a = 0, b = idx_.size();
    while (a < b) {  // first j with x >= x0
      const size_t m = (a + b) / 2;
      if (xat(m) < x0)
        a = m + 1;
      else
        b = m;
    }
    lo = a > 0 ? a - 1 : 0;
    a = lo;
    b = idx_.size();
    while (a < b) {  // first j with x > x1
      const size_t m = (a + b) / 2;
      if (xat(m) <= x1)
        a = m + 1;
      else
        b = m;
    }
    hi = std::min(idx_.size(), a + 1);
  }
  out.reserve(hi - lo + 8);
  for (size_t j = lo; j < hi; ++j) {
    if (gap_[j] && !out.empty()) out.push_back(kGap);
    out.push_back(idx_[j]);
  }
  return out;
}

void MinMaxCache::extend(const double* x, const double* y, int64_t n) {
  if (n == n_done_) return;
  // Redo the open bucket: drop what it had kept and scan from its start.
  idx_.resize(idx_.size() - open_kept_);
  gap_.resize(idx_.size());
  open_kept_ = 0;
  int64_t bucket = INT64_MIN, imin = -1, imax = -1, start = open_start_;
  bool gap_pending = open_gap_, start_gap = open_gap_;
  double next_edge = -std::numeric_limits<double>::infinity();
  auto flush = [&] {
    if (imin < 0) return;
    const bool gap = gap_pending && !idx_.empty();
    gap_pending = false;
    const int64_t a = std::min(imin, imax), b = std::max(imin, imax);
    idx_.push_back(a);
    gap_.push_back(gap);
    open_kept_ = 1;
    if (b != a) {
      idx_.push_back(b);
      gap_.push_back(0);
      open_kept_ = 2;
    }
    imin = imax = -1;
  };
  for (int64_t i = open_start_; i < n; ++i) {
    const double xi = x[i], yi = y[i];
    if (std::isnan(xi) || std::isnan(yi)) {
      flush();
      open_kept_ = 0;
      gap_pending = true;
      start = i + 1;
      start_gap = true;
      continue;
    }
    if (xi >= next_edge) {
      const int64_t b = int64_t(std::floor(xi / width_));
      if (b != bucket) {
        flush();
        open_kept_ = 0;
        bucket = b;
        start = i;
        start_gap = gap_pending;
      }
      next_edge = double(b + 1) * width_;
    }
    if (imin < 0 || yi < y[imin]) imin = i;
    if (imax < 0 || yi > y[imax]) imax = i;
  }
  flush();
  open_start_ = start;
  open_gap_ = start_gap;
  n_done_ = n;
}

}  // namespace dlab::views
