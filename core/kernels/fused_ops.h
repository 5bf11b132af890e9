// The fused CPU operations of the model (train.kernels = fused): each is a
// torch::autograd::Function with a hand-written backward, computing exactly
// what the reference modules in core/model compute (METRICS.md §1) without
// their intermediate tensors. Inputs are float32 or float64 (float64: the
// gradient checks); bfloat16 enters only inside the matrix products
// (Precision::Bf16), whose inputs are rounded to bf16 and summed in float32.
//
// Shapes: B sequences of T tokens, width d, H query and G key/value heads of
// size d_h, a packed projection row holds [q heads | k heads | v heads].
// Threads: the calling thread's intra-op threads (threads.h).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "kernels/cpu/kernels.h"

namespace dlab::kernels {

// Sparsity thresholds one pass can count (attention, magnitude_counts).
constexpr int kMaxThresholds = cpu::kMaxEps;

enum class Precision { Fp32, Bf16 };  // of the matrix products (train.precision)

// RMSNorm(x) * scale: x * rsqrt(mean(x^2) + eps) * w * scale over the last
// dimension; x (..., d), w (d). scale is the LayerNorm-scaling factor s_i.
torch::Tensor rmsnorm(const torch::Tensor& x, const torch::Tensor& w, double eps, double scale);

// y = x [W_0; W_1; ...]ᵀ: one product for several weights that share an input
// (q, k, v or gate, up), their outputs side by side. x (..., K), W_i (N_i, K)
// -> (..., sum N_i). No bias.
torch::Tensor linear(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                     Precision precision);

// RoPE (half split) on the H query and G key heads of qkv (B, T, (H+2G) d_h);
// the value heads pass through. cos/sin (T, d_h) as rope_tables() makes them.
torch::Tensor rope_qk(const torch::Tensor& qkv, const torch::Tensor& cos, const torch::Tensor& sin,
                      int64_t n_heads, int64_t n_kv_heads);

// Causal attention of qkv (B, T, (H+2G) d_h) (RoPE already applied) -> (B, T, H d_h),
// softmax scale 1/sqrt(d_h). No (B, H, T, T) tensor is formed or kept.
struct AttentionOutput {
  torch::Tensor out;
  // With statistics asked for: (H, 2 + n_eps) float64 sums over the batch, per
  // head: entropy, entropy / log(i+1), then per threshold the count of causal
  // entries below it (queries i >= 1; see cpu/kernels.h). Else undefined.
  torch::Tensor stat_sums;
};
AttentionOutput attention(const torch::Tensor& qkv, int64_t n_heads, int64_t n_kv_heads,
                          const std::vector<double>& stats_eps = {});

// SwiGLU: silu(g) * u for gu = [g | u] (..., 2F) -> (..., F).
torch::Tensor swiglu(const torch::Tensor& gu);

// Mean next-token cross-entropy of the LM head: mean_n CE(x_n Wᵀ, target_n)
// for x (N, d) or (B, T, d), w (V, d), targets (N) or (B, T) int64; computed
// in row chunks so that no (N, V) logits exist, with the gradients formed in
// the same pass when autograd needs them. Returns a float scalar (x's dtype).
torch::Tensor lm_head_loss(const torch::Tensor& x, const torch::Tensor& w,
                           const torch::Tensor& targets, Precision precision);

// The residual statistics of one probe point h (B, T, d) or (N, d) in one pass
// (METRICS.md §2; the reference is metrics/residual_stats.h): per token the
// unbiased variance across channels, averaged over tokens; with_kurtosis also
// the kurtosis per token (averaged), per channel (mean and max) and flat.
// float32 data, sums in float64 where they run over tokens.
struct ResidualMoments {
  double token_variance = 0;
  double kurtosis_token = 0, kurtosis_channel_mean = 0, kurtosis_channel_max = 0, kurtosis_flat = 0;
};
ResidualMoments residual_moments(const torch::Tensor& h, bool with_kurtosis);
// Several probes in one parallel pass (a step's statistics), the same results.
std::vector<ResidualMoments> residual_moments(const std::vector<torch::Tensor>& tensors,
                                              const std::vector<bool>& with_kurtosis);

// The magnitudes of one weight tensor in one pass (METRICS.md §2; the
// reference is metrics/weight_sparsity.h): entries with |w| < eps per
// threshold, and the histogram of floor((log10|w| - lo) * bins / (hi - lo))
// clamped to the bins (zeros in the first bin, NaN in none). float32.
struct MagnitudeCounts {
  std::vector<int64_t> below;  // [eps]
  std::vector<int64_t> hist;   // [bins]
  int64_t entries = 0;
};
MagnitudeCounts magnitude_counts(const torch::Tensor& w, const std::vector<double>& eps, int bins,
                                 double lo, double hi);

}  // namespace dlab::kernels
