// Residual-stream statistics of one probe point (METRICS.md §2): variance and
// kurtosis of hidden states. Inputs are (B, T, d) or (N, d) tensors of any
// floating dtype and device; they are read as float32 (no gradient is kept)
// and the results come back as plain doubles.
#pragma once

#include <torch/types.h>

namespace dlab {

// Per token the unbiased variance across the d channels, averaged over all
// tokens. Needs d >= 2 and at least one token.
double token_variance(const torch::Tensor& h);  // h: (B, T, d) or (N, d)

// Kurtosis mean((x-mu)^4) / s^4, s the unbiased standard deviation, and 3 when
// s == 0 (a constant sample). Excess kurtosis = kurtosis - 3.
struct KurtosisStats {
  double token_mean = 0;    // per token across channels, averaged over tokens
  double channel_mean = 0;  // per channel across tokens, averaged over channels
  double channel_max = 0;   // per channel across tokens, largest channel
  double flat = 0;          // all B*T*d entries as one sample
};

// Needs d >= 2 and at least two tokens.
KurtosisStats kurtosis_stats(const torch::Tensor& h);  // h: (B, T, d) or (N, d)

}  // namespace dlab
