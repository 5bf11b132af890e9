// The raw CPU kernels behind the fused operations (llm.c style): plain loops on
// raw pointers, vectorised with at::vec, serial and allocation-free. The
// torch-facing wrappers (core/kernels/*.cpp) split the work across threads and
// own the buffers; every kernel's output depends only on its inputs, never on
// how the work was split, so results are identical for any thread count.
//
// Each kernel exists for float and double (double: gradient checks); T is the
// element type, arithmetic is done in T. Layouts are row-major with explicit
// row strides ("ld"). The implementations are in attention_kernels.cpp,
// elementwise_kernels.cpp and optimizer_kernels.cpp, compiled once per
// instruction set; kernel_table() returns the set chosen for this CPU.
#pragma once

#include <algorithm>
#include <cstdint>

namespace dlab::kernels::cpu {

// Causal grouped-query attention over a packed projection: row n = b*T + t of
// `qkv` holds H query heads, then G key heads, then G value heads, d_h values
// each (row stride ld >= (H + 2G) d_h). Query head h reads key/value head
// h / (H/G). Work is split by (b, g): one task computes every query head of
// group g for sequence b and is the only writer of their outputs.
template <typename T>
struct AttentionArgs {
  const T* qkv = nullptr;
  int64_t ld = 0;
  int64_t B = 0, T_len = 0, H = 0, G = 0, dh = 0;
  double scale = 1.0;  // 1/sqrt(d_h)
  // forward
  T* out = nullptr;  // (B*T, ld_out), head h at columns h*d_h
  int64_t ld_out = 0;
  T* lse = nullptr;  // (B, H, T): log-sum-exp of each row's scaled scores
  // statistics (forward, optional): per (b, h) kAttnStatFixed + n_eps sums
  const double* log_eps = nullptr;  // log of each sparsity threshold
  int n_eps = 0;
  double* stats = nullptr;  // (B, H, kAttnStatFixed + n_eps); null: no statistics
  // backward
  const T* dout = nullptr;  // (B*T, ld_out) gradient of `out`
  const T* out_saved = nullptr;
  const T* lse_saved = nullptr;
  T* dqkv = nullptr;  // (B*T, ld) gradient of qkv, same layout
};
// Layout of one (b, h) statistics record: sum over queries i >= 1 of the
// entropy H_i, of H_i / log(i+1), then per threshold the number of causal
// entries (j <= i) with A_ij < eps.
constexpr int kAttnStatEntropy = 0;
constexpr int kAttnStatEntropyNorm = 1;
constexpr int kAttnStatFixed = 2;
constexpr int kMaxEps = 8;  // sparsity thresholds one pass can count

// Tiles of query rows and key columns (64 x 64 floats: 16 KiB, an L1 cache's share).
constexpr int64_t kAttnBlockQ = 64;
constexpr int64_t kAttnBlockK = 64;
// Elements of per-task scratch the attention kernels need: K^T and V^T (or V)
// of the whole sequence, the backward's dK, dV accumulators (or, forward, the
// kept scores of one query tile), per-row values and the tiles.
inline int64_t attention_scratch_elems(int64_t T_len, int64_t dh) {
  const int64_t acc = std::max(2 * T_len * dh, kAttnBlockQ * T_len);
  return 2 * T_len * dh + acc + 3 * T_len + 4 * kAttnBlockQ * kAttnBlockK + 2 * kAttnBlockQ * dh +
         2 * kAttnBlockQ;
}

template <typename T>
struct KernelTable {
  // y = x * rstd * w * scale over rows of d, rstd = 1/sqrt(mean(x^2) + eps);
  // x rows at stride ldx, y and rstd dense.
  void (*rmsnorm_forward)(const T* x, int64_t ldx, const T* w, T* y, T* rstd, int64_t rows,
                          int64_t d, double eps, double scale);
  // dx (dense) for these rows; dw_acc (d) += this rows' contribution.
  void (*rmsnorm_backward)(const T* x, int64_t ldx, const T* w, const T* rstd, const T* dy, T* dx,
                           T* dw_acc, int64_t rows, int64_t d, double scale);
  // Rotary embedding of the first n_rot d_h-slices of each row (in -> out, both
  // with row stride ld), copying the next n_copy slices unchanged. Row r is at
  // sequence position (first_row + r) % T_len; cos/sin (T_len, ld_tab) hold
  // cos(t freq_k) at column k < d_h/2. inverse: rotate by -angle (the backward).
  void (*rope_rotate)(const T* in, T* out, int64_t ld, const T* cos, const T* sin, int64_t ld_tab,
                      int64_t first_row, int64_t rows, int64_t T_len, int64_t n_rot, int64_t n_copy,
                      int64_t dh, bool inverse);
  // m = silu(g) * u with g = gu[:, :f], u = gu[:, f:2f] (gu row stride 2f).
  void (*swiglu_forward)(const T* gu, T* m, int64_t rows, int64_t f);
  void (*swiglu_backward)(const T* gu, const T* dm, T* dgu, int64_t rows, int64_t f);
  // One (b, g) task of causal attention; scratch holds attention_scratch_elems().
  void (*attention_forward)(const AttentionArgs<T>& a, int64_t b, int64_t g, T* scratch);
  void (*attention_backward)(const AttentionArgs<T>& a, int64_t b, int64_t g, T* scratch);
  // Cross-entropy of rows of logits (stride ld) against targets: loss[r] =
  // logsumexp(row) - row[target]. With grad_scale != 0 the row is overwritten
  // by grad_scale * (softmax(row) - onehot(target)).
  void (*cross_entropy_rows)(T* logits, int64_t ld, const int64_t* targets, int64_t rows, int64_t V,
                             T* loss, double grad_scale);
  // sum of x^2 in double, in a fixed order
  double (*sum_squares)(const T* x, int64_t n);
  // Residual statistics of rows of d channels (METRICS.md §2), one read of x:
  //   row_sums[0] += sum over rows of the unbiased variance across channels,
  //   row_sums[1] += sum over rows of the kurtosis across channels (3 if constant);
  // with col_sums: col_sums[p * d + j] += sum over rows of y^(p+1), p = 0..3,
  // y = x[:, j] - shift[j] (float64), for the per-channel and flat kurtosis.
  void (*residual_moments)(const T* x, int64_t rows, int64_t d, const T* shift, double* row_sums,
                           double* col_sums);
  // Magnitudes of n weights: below[e] += #{|x| < eps[e]}; hist[k] += #{entries
  // whose floor((log10|x| - lo) * bins_per_unit), clamped to 0..bins-1, is k};
  // NaN entries land in no bin (metrics/weight_sparsity.h).
  void (*magnitude_counts)(const T* x, int64_t n, const double* eps, int n_eps, double lo,
                           double bins_per_unit, int bins, int64_t* below, int64_t* hist);
};

// AdamW for one float32 slice (METRICS.md §1), the gradient scaled first:
//   g' = grad_scale g;  m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2
//   p *= decay;  p -= step_size m / (sqrt(v) * inv_sqrt_bias2 + eps)
struct AdamWArgs {
  float b1, b2, eps, grad_scale, decay, step_size, inv_sqrt_bias2;
};

struct KernelTableF32Only {
  void (*adamw_update)(float* p, const float* g, float* m, float* v, int64_t n, const AdamWArgs& a);
};

const KernelTable<float>& kernel_table_f32();
const KernelTable<double>& kernel_table_f64();
const KernelTableF32Only& kernel_table_f32_only();

template <typename T>
const KernelTable<T>& kernel_table();
template <>
inline const KernelTable<float>& kernel_table<float>() {
  return kernel_table_f32();
}
template <>
inline const KernelTable<double>& kernel_table<double>() {
  return kernel_table_f64();
}

// The per-instruction-set halves of the tables; dispatch.cpp calls the ones
// of cpu_capability().
#define DEPTHLAB_KERNELS_DECLARE_ISA(ISA)      \
  namespace ISA {                              \
  void attention_fill(KernelTable<float>&);    \
  void attention_fill(KernelTable<double>&);   \
  void elementwise_fill(KernelTable<float>&);  \
  void elementwise_fill(KernelTable<double>&); \
  void optimizer_fill(KernelTableF32Only&);    \
  }
DEPTHLAB_KERNELS_DECLARE_ISA(DEFAULT)
DEPTHLAB_KERNELS_DECLARE_ISA(AVX2)
DEPTHLAB_KERNELS_DECLARE_ISA(AVX512)
#undef DEPTHLAB_KERNELS_DECLARE_ISA

}  // namespace dlab::kernels::cpu
