// Min/max-per-bucket decimation: keeps, for every horizontal bucket (about one
// pixel column), the points with the smallest and the largest y, in x order.
// A spike one sample wide therefore survives any zoom level, which plain
// stride sampling would drop.
#pragma once

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
