// Least-squares fit of a block by an affine map (the usefulness score,
// METRICS.md §3): [X, 1] [W; b] ≈ Y over all evaluation tokens, in float64.
//
// The normal equations are accumulated batch by batch (memory O(d^2), any
// number of tokens). For conditioning, X is shifted by the mean of the first
// batch it sees (c): the bias column then sees a centred X, so the system is
// as well conditioned as the centred data, and b = b' - c W undoes the shift.
// The (d+1) x (d+1) system is solved by Cholesky; when it is not positive
// definite (X rank-deficient: constant or collinear channels) a ridge
// lambda = 1e-12 * trace(X'^T X')/d is added to the X block and multiplied by
// 100 until the factorisation succeeds (at most 8 tries); LinearFit::ridge
// says which lambda was used (0 = none).
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "model/layer_plan.h"

namespace dlab {

struct LinearFit {
  torch::Tensor weight;  // (d, d) float64, y = x W + b
  torch::Tensor bias;    // (d) float64
  double ridge = 0;      // regularisation added (0 when the plain system was solved)
  int64_t count = 0;     // tokens the fit saw

  // The map for a layer plan: float32, y = x W + b; with `transposed` the
  // published script's y = x Wᵀ + b.
  LinearMap map(bool transposed = false) const;
};

class LinearFitAccumulator {
 public:
  explicit LinearFitAccumulator(int64_t d);
  // Not copyable: a copy would share (and add into) the same tensors.
  LinearFitAccumulator(const LinearFitAccumulator&) = delete;
  LinearFitAccumulator& operator=(const LinearFitAccumulator&) = delete;
  LinearFitAccumulator(LinearFitAccumulator&&) = default;
  LinearFitAccumulator& operator=(LinearFitAccumulator&&) = default;
  void add(const torch::Tensor& x, const torch::Tensor& y);  // (..., d) each, same token count
  LinearFit solve() const;                                   // dlab::Error when no token was added
  int64_t count() const { return n_; }

 private:
  int64_t d_;
  int64_t n_ = 0;
  torch::Tensor shift_;  // (d) float64, c
  torch::Tensor xtx_;    // (d, d)  sum x'^T x'
  torch::Tensor xty_;    // (d, d)  sum x'^T y
  torch::Tensor sx_;     // (d)     sum x'
  torch::Tensor sy_;     // (d)     sum y
};

}  // namespace dlab
