// Rotary position embedding, half-split ("rotate_half") convention:
//   q' = q * cos + rotate_half(q) * sin,  rotate_half([a, b]) = [-b, a],
// component k is paired with k + d_h/2 and rotates at freq_k = theta^(-2k/d_h).
#pragma once

#include <torch/torch.h>

namespace dlab {

struct RopeTables {
  torch::Tensor cos;  // (T, d_h): cos(t * freq_{k mod d_h/2})
  torch::Tensor sin;  // (T, d_h)
};

// Angles are computed in float64 and then cast to `options` (dtype, device).
RopeTables rope_tables(int64_t seq_len, int64_t head_dim, double theta,
                       const torch::TensorOptions& options);

torch::Tensor rotate_half(const torch::Tensor& x);  // (..., d_h): [a, b] -> [-b, a]

// x: (B, n_heads, T, d_h) -> same shape.
torch::Tensor rope_apply(const torch::Tensor& x, const RopeTables& tables);

}  // namespace dlab
