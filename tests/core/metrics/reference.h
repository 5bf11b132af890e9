// Naive references for the metrics tests: plain loops over std::vector<double>,
// written straight from METRICS.md §2 and sharing no code with core/metrics.
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace dlab::test {

using Matrix = std::vector<std::vector<double>>;  // [row][column]

// (B, T, d) or (N, d) tensor -> N rows of d doubles.
inline Matrix rows_of(const torch::Tensor& h) {
  const torch::Tensor x = h.detach().to(torch::kFloat64).reshape({-1, h.size(-1)}).contiguous();
  Matrix m(x.size(0), std::vector<double>(x.size(1)));
  const double* p = x.data_ptr<double>();
  for (auto& row : m) {
    for (double& v : row) v = *p++;
  }
  return m;
}

inline double ref_mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

inline double ref_unbiased_variance(const std::vector<double>& v) {
  const double mu = ref_mean(v);
  double s = 0;
  for (double x : v) s += (x - mu) * (x - mu);
  return s / double(v.size() - 1);
}

// mean (x-mu)^4 / s^4, s the unbiased std; 3 when s == 0, i.e. all values equal.
inline double ref_kurtosis(const std::vector<double>& v) {
  bool constant = true;
  for (double x : v) constant = constant && x == v[0];
  if (constant) return 3.0;
  const double mu = ref_mean(v);
  const double s2 = ref_unbiased_variance(v);
  double m4 = 0;
  for (double x : v) m4 += std::pow(x - mu, 4);
  m4 /= double(v.size());
  return m4 / (s2 * s2);
}

inline std::vector<double> column(const Matrix& m, size_t c) {
  std::vector<double> v;
  for (const auto& row : m) v.push_back(row[c]);
  return v;
}

}  // namespace dlab::test
