// Token-weighted mean of a statistic, so that per-rank (or per-micro-batch)
// values can be combined later: each rank adds (value, number of tokens) and
// the sums are all-reduced before mean(). No torch needed.
#pragma once

#include <limits>

namespace dlab {

struct RunningMean {
  double sum = 0;     // sum of value * weight
  double weight = 0;  // sum of weights

  void add(double v, double w) {
    sum += v * w;
    weight += w;
  }
  void merge(const RunningMean& other) {
    sum += other.sum;
    weight += other.weight;
  }
  // NaN while nothing has been added: there is no mean to report.
  double mean() const {
    return weight > 0 ? sum / weight : std::numeric_limits<double>::quiet_NaN();
  }
};

}  // namespace dlab
