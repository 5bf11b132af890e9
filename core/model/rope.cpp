#include "model/rope.h"

namespace dlab {

RopeTables rope_tables(int64_t seq_len, int64_t head_dim, double theta,
                       const torch::TensorOptions& options) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const torch::Tensor k = torch::arange(head_dim / 2, f64);                   // (d_h/2)
  const torch::Tensor freq = torch::pow(theta, -2.0 * k / double(head_dim));  // (d_h/2)
  const torch::Tensor t = torch::arange(seq_len, f64);                        // (T)
  const torch::Tensor angle = torch::outer(t, freq);                          // (T, d_h/2)
  const torch::Tensor both = torch::cat({angle, angle}, /*dim=*/-1);          // (T, d_h)
  return RopeTables{both.cos().to(options), both.sin().to(options)};
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  const torch::Tensor a = x.narrow(-1, 0, half);
  const torch::Tensor b = x.narrow(-1, half, half);
  return torch::cat({-b, a}, /*dim=*/-1);
}

torch::Tensor rope_apply(const torch::Tensor& x, const RopeTables& tables) {
  return x * tables.cos + rotate_half(x) * tables.sin;  // tables broadcast over (B, n_heads)
}

}  // namespace dlab
