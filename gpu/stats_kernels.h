// CUDA kernels for the streaming statistics of METRICS.md §2, on raw device
// pointers, so they build with nvcc alone (no CUDA LibTorch needed). The
// per-row arithmetic is gpu/stats_math.h, shared with the CPU reference in
// core/metrics/row_stats.cpp. Each function enqueues on `stream` (a
// cudaStream_t; nullptr = the legacy default stream, which is also LibTorch's
// default) and returns a cudaError_t, 0 on success.
#pragma once

#include <cstdint>
#include <string>

namespace dlab::gpu {

// For each of n_probes row blocks rows[p] (N, d) float32 on the device:
// out[2 p] = sum over the N tokens of the unbiased variance across channels,
// out[2 p + 1] = the same sum of the per-token kurtosis (3 for a constant
// token). One read of every element; out is (n_probes, 2) float64 on the
// device. `rows` itself is a host array of device pointers. d >= 2.
int token_moment_sums(const float* const* rows, int n_probes, int64_t N, int64_t d, double* out,
                      void* stream);

// Attention entropy and sparsity sums straight from queries and keys, the
// softmax formed online tile by tile: (B, H, T, T) probabilities are never
// stored. q (B, H, T, dh) and k (B, G, T, dh) float32, contiguous, on the
// device, H % G == 0, dh <= 256; log_eps: n_eps <= 8 host values log(eps).
// sums (H, 2 + n_eps) float64 on the device, the layout of
// core/metrics/row_stats.h's attention_stat_sums_qk.
int attention_stat_sums(const float* q, const float* k, int64_t B, int64_t H, int64_t G, int64_t T,
                        int64_t dh, double scale, const double* log_eps, int n_eps, double* sums,
                        void* stream);

// "cudaErrorNoDevice (100): no CUDA-capable device is detected" for a status above.
std::string cuda_error_text(int status);

}  // namespace dlab::gpu
