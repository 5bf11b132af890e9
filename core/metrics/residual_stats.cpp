#include "metrics/residual_stats.h"

#include <torch/torch.h>

#include <string>

#include "common/error.h"

namespace dlab {
namespace {

// (B, T, d) or (N, d) -> (N, d) float32 without gradient.
torch::Tensor as_rows(const torch::Tensor& h, const char* who, int64_t min_rows) {
  if (!h.defined() || h.dim() < 2) {
    throw Error(std::string(who) + ": expected a (B, T, d) or (N, d) tensor, got " +
                (h.defined() ? std::to_string(h.dim()) + " dimension(s)" : "an undefined tensor"));
  }
  const int64_t d = h.size(-1);
  if (d < 2) {
    throw Error(std::string(who) + ": the channel dimension d is " + std::to_string(d) +
                "; the unbiased statistics need d >= 2");
  }
  torch::Tensor x = h.detach().to(torch::kFloat32).reshape({-1, d});
  if (x.size(0) < min_rows) {
    throw Error(std::string(who) + ": got " + std::to_string(x.size(0)) + " token(s); at least " +
                std::to_string(min_rows) + " needed");
  }
  return x;
}

// Kurtosis of every slice of x along `dim`: mean((x-mu)^4) / s^4 with s^2 the
// unbiased variance, 3 where s == 0. Returns the per-slice values (float32).
//
// Two details keep it exact where it matters. The samples are first shifted
// by their first element, so a constant slice becomes exact zeros and hits the
// s == 0 rule instead of reporting the kurtosis of rounding noise. And the
// fourth moment is taken of (x-mu)^2 / s^2, which is O(1), so large or tiny
// activations neither overflow nor underflow in float32.
torch::Tensor kurtosis_along(const torch::Tensor& x, int64_t dim) {
  const int64_t n = x.size(dim);
  torch::Tensor c = x - x.narrow(dim, 0, 1);                        // shifted copy
  c.sub_(c.mean(dim, /*keepdim=*/true));                            // centred
  c.square_();                                                      // (x-mu)^2
  torch::Tensor s2 = c.sum(dim, /*keepdim=*/true) / double(n - 1);  // unbiased variance
  c.div_(s2);  // (x-mu)^2 / s^2; 0/0 = NaN for constant slices, replaced below
  torch::Tensor k = c.square_().mean(dim, /*keepdim=*/true);
  // Only an exact zero takes the rule: a NaN variance (diverged run) stays NaN.
  return torch::where(s2 == 0, torch::full_like(k, 3.0), k).squeeze(dim);
}

double mean_f64(const torch::Tensor& t) { return t.to(torch::kFloat64).mean().item<double>(); }

}  // namespace

double token_variance(const torch::Tensor& h) {
  torch::NoGradGuard no_grad;
  const torch::Tensor x = as_rows(h, "token_variance", /*min_rows=*/1);  // (N, d)
  // Two passes over a copy shifted by each token's first channel (exact zeros
  // for a constant token); about 3x faster than Tensor::var's Welford loop here.
  torch::Tensor c = x - x.narrow(1, 0, 1);
  c.sub_(c.mean(/*dim=*/1, /*keepdim=*/true));
  return mean_f64(c.square_().sum(/*dim=*/1) / double(x.size(1) - 1));
}

KurtosisStats kurtosis_stats(const torch::Tensor& h) {
  torch::NoGradGuard no_grad;
  const torch::Tensor x = as_rows(h, "kurtosis_stats", /*min_rows=*/2);  // (N, d)
  KurtosisStats k;
  k.token_mean = mean_f64(kurtosis_along(x, /*dim=*/1));           // (N) -> mean over tokens
  const torch::Tensor per_channel = kurtosis_along(x, /*dim=*/0);  // (d)
  k.channel_mean = mean_f64(per_channel);
  k.channel_max = per_channel.max().item<double>();
  k.flat = kurtosis_along(x.reshape({-1}), /*dim=*/0).item<double>();
  return k;
}

}  // namespace dlab
