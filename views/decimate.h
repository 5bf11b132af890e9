// Min/max-per-bucket decimation: keeps, for every horizontal bucket (about one
// pixel column), the points with the smallest and the largest y, in x order.
// A spike one sample wide therefore survives any zoom level, which plain
// stride sampling would drop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dlab::views {

inline constexpr int64_t kGap = -1;  // marks a break in the line (masked points)

// x: transformed abscissae, sorted ascending; y: transformed ordinates, NaN =
// masked (log of a value <= 0), which breaks the line. Only points with x in
// [x0, x1] are kept, plus the nearest point on each side so the line reaches
// the plot edges. Returns indices into x/y in ascending order, with kGap where
// masked points interrupted the line; at most 2 per bucket (+2 edge points).
std::vector<int64_t> decimate_minmax(const double* x, const double* y, int64_t n, double x0,
                                     double x1, int buckets);

}  // namespace dlab::views

namespace dlab::views {

// decimate_minmax for a series that grows at the end, kept across frames.
// Buckets have a fixed width on a grid anchored at 0 (a power of two, about
// (x1 - x0) / buckets), so appends only redo the last, still open bucket and a
// repaint costs O(new points + kept points shown) instead of O(all points).
// Zooming or panning far enough to change the width rebuilds once.
class MinMaxCache {
 public:
  // Same contract and output format as decimate_minmax (indices into x/y
  // ascending, kGap at breaks, one neighbour each side of [x0, x1]); x and y
  // must be the same arrays as on the previous call, possibly longer.
  std::vector<int64_t> select(const double* x, const double* y, int64_t n, double x0, double x1,
                              int buckets);
  void invalidate() { width_ = 0; }  // the data changed other than by appends

 private:
  void extend(const double* x, const double* y, int64_t n);

  double width_ = 0;
  std::vector<int64_t> idx_;  // kept indices of every bucket, ascending
  std::vector<uint8_t> gap_;  // gap_[j]: a break comes before idx_[j]
  int64_t open_start_ = 0;    // first index of the last (open) bucket
  size_t open_kept_ = 0;      // idx_ entries belonging to the open bucket
  bool open_gap_ = false;     // a break came before the open bucket
  int64_t n_done_ = 0;
};

}  // namespace dlab::views
