// Jacobians of one block (METRICS.md §3): the paper's row-wise Jacobian,
// averaged over tokens with cross-token terms included, and the per-token
// Jacobian of one chosen position for interactive inspection.
#pragma once

#include <torch/torch.h>

#include "model/transformer.h"

namespace dlab {

struct JacobianSummary {
  double deviation = 0;                // ||J - I||_F / d  (the paper's plotted "deviation")
  double offdiag = 0;                  // ||J ⊙ (1-I)||_F / sqrt(d^2 - d)
  double diag_mean = 0, diag_std = 0;  // of diag(J); std unbiased
  double frobenius = 0;                // ||J||_F
  double spectral = 0;                 // largest singular value (float64)
};

struct JacobianResult {
  torch::Tensor matrix;  // (d, d) float32: J[j][i], j the input channel, i the output channel
  JacobianSummary summary;
};

// Row-wise Jacobian of the block at `position` (its own weights) over x = h_in (B, T, d):
//   J[j,i] = (1/(B·T)) Σ_{b',t'} Σ_{b,t} ∂y[b,t,i] / ∂x[b',t',j]
// One vector-Jacobian product per output channel i (seed 1 at channel i of
// every token); `vjp_batch` of them share one forward/backward pass by
// stacking copies of x along the batch dimension.
JacobianResult jacobian_rowwise(Transformer& model, int position, const torch::Tensor& h_in,
                                int vjp_batch = 32);

// ∂y[b,t,i] / ∂x[b,t,j] for one token (b, t) of h_in: J[j][i], cross-token terms excluded.
JacobianResult jacobian_token(Transformer& model, int position, const torch::Tensor& h_in, int b,
                              int t);

JacobianSummary jacobian_summarize(const torch::Tensor& J);

}  // namespace dlab
