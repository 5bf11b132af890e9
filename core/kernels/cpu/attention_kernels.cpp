// Causal grouped-query attention in tiles with an online softmax (the
// FlashAttention recurrence), forward with optional in-pass statistics and
// backward; compiled once per instruction set (see kernels.h).
//
// Per (sequence b, query head h), with S = scale Q Kᵀ restricted to keys j <= i:
//   forward   m_i = max_j S_ij, l_i = sum_j exp(S_ij - m_i), O_i = sum_j exp(S_ij - m_i) V_j / l_i
//             carried block by block over keys, then lse_i = m_i + log l_i is kept;
//   backward  P = exp(S - lse), dV = Pᵀ dO, dP = dO Vᵀ, dS = P ∘ (dP - D), D_i = dO_i · O_i,
//             dQ = scale dS K, dK = scale dSᵀ Q.
// Nothing of size (T, T) is formed. Statistics (METRICS.md §2) come from the
// same pass: the entropy online, H_i = lse_i - sum_j A_ij S_ij with the sum
// carried like l_i (w_i = sum_j exp(S_ij - m_i) S_ij, rescaled with it), and
// the sparsity counts from the query tile's scores, kept (64 x T) until lse_i
// is known: A_ij < eps is S_ij < lse_i + log eps, no exponential needed.
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/tile_gemm.h"

namespace dlab::kernels::cpu {
namespace CPU_CAPABILITY {
namespace {

template <typename T>
using Vec = at::vec::Vectorized<T>;

constexpr int64_t BQ = kAttnBlockQ;
constexpr int64_t BK = kAttnBlockK;

// Horizontal sum and max of a vector (shuffles, not a trip through memory).
template <typename T>
T lanes_sum(const Vec<T>& v) {
  return at::vec::vec_reduce_all<T>([](Vec<T>& a, Vec<T>& b) { return a + b; }, v);
}

template <typename T>
T lanes_max(const Vec<T>& v) {
  return at::vec::vec_reduce_all<T>([](Vec<T>& a, Vec<T>& b) { return at::vec::maximum(a, b); }, v);
}

// Scratch carve-up, in attention_scratch_elems() order.
template <typename T>
struct Scratch {
  T* kt;     // (dh, T) keys transposed
  T* vx;     // (dh, T) values transposed (backward) or (T, dh) values (forward)
  T* dk;     // (T, dh) backward accumulators; forward: (BQ, T) kept scores
  T* dv;     // (T, dh)
  T* rowv;   // (T) D_i = dO_i . O_i (backward)
  T* lse;    // (T)
  T* spare;  // (T)
  T* s;      // (BQ, BK) scores / probabilities
  T* dp;     // (BQ, BK)
  T* t2;     // (BQ, BK)
  T* t3;     // (BQ, BK)
  T* o;      // (BQ, dh) output accumulator
  T* o2;     // (BQ, dh)
  T* m;      // (BQ) running max
  T* l;      // (BQ) running sum
  Scratch(T* base, int64_t T_len, int64_t dh) {
    kt = base;
    vx = kt + dh * T_len;
    dk = vx + dh * T_len;  // dk, dv (backward) or the kept scores (forward) share this region
    dv = dk + T_len * dh;
    rowv = dk + std::max(2 * T_len * dh, BQ * T_len);
    lse = rowv + T_len;
    spare = lse + T_len;
    s = spare + T_len;
    dp = s + BQ * BK;
    t2 = dp + BQ * BK;
    t3 = t2 + BQ * BK;
    o = t3 + BQ * BK;
    o2 = o + BQ * dh;
    m = o2 + BQ * dh;
    l = m + BQ;
  }
};

// Keys a query row may see inside the key tile [j0, j0 + cols): j <= i.
inline int64_t visible(int64_t i, int64_t j0, int64_t cols) {
  return std::max<int64_t>(0, std::min<int64_t>(cols, i - j0 + 1));
}

// Packs the (T, dh) slice at column `col` of the packed rows as its transpose (dh, T).
template <typename T>
void pack_transposed(const T* rows, int64_t ld, int64_t col, int64_t T_len, int64_t dh, T* out) {
  for (int64_t t = 0; t < T_len; ++t) {
    const T* src = rows + t * ld + col;
    for (int64_t k = 0; k < dh; ++k) out[k * T_len + t] = src[k];
  }
}

template <typename T>
void pack_rows(const T* rows, int64_t ld, int64_t col, int64_t T_len, int64_t dh, T* out) {
  for (int64_t t = 0; t < T_len; ++t)
    std::copy(rows + t * ld + col, rows + t * ld + col + dh, out + t * dh);
}

// Sparsity counts of one query tile from its kept scores z (rows, ld_z): entries
// j <= i of queries i >= 1 below each threshold.
template <typename T>
void tile_counts(const AttentionArgs<T>& a, const T* z, int64_t ld_z, int64_t i0, int64_t rows,
                 const T* lse, double* rec) {
  constexpr int VS = Vec<T>::size();
  const int n_eps = a.n_eps;
  const Vec<T> one(T(1));
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = i0 + r;
    if (i == 0) continue;  // query 0 says nothing (METRICS.md §2)
    const T* zr = z + r * ld_z;
    const int64_t n = i + 1;
    T cut[kMaxEps];
    Vec<T> vcut[kMaxEps], cnt[kMaxEps];
    for (int e = 0; e < n_eps; ++e) {
      cut[e] = lse[i] + T(a.log_eps[e]);
      vcut[e] = Vec<T>(cut[e]);
      cnt[e] = Vec<T>(T(0));
    }
    int64_t c = 0;
    for (; c + VS <= n; c += VS) {
      const Vec<T> zv = Vec<T>::loadu(zr + c);
      for (int e = 0; e < n_eps; ++e) cnt[e] = cnt[e] + ((zv < vcut[e]) & one);
    }
    for (int e = 0; e < n_eps; ++e) {
      T count = lanes_sum(cnt[e]);
      for (int64_t k = c; k < n; ++k) count += zr[k] < cut[e] ? T(1) : T(0);
      rec[kAttnStatFixed + e] += double(count);
    }
  }
}

template <typename T>
void attention_forward(const AttentionArgs<T>& a, int64_t b, int64_t g, T* scratch) {
  constexpr int VS = Vec<T>::size();
  const int64_t T_len = a.T_len, dh = a.dh, rep = a.H / a.G;
  const T scale = T(a.scale);
  const bool stats = a.stats != nullptr;
  Scratch<T> sc(scratch, T_len, dh);
  T* zkeep = sc.dk;  // (BQ, T) scaled scores of the query tile, with statistics
  T* w = sc.spare;   // (BQ) running sum of exp(z - m) z, with statistics
  const T* base = a.qkv + b * T_len * a.ld;
  pack_transposed(base, a.ld, (a.H + g) * dh, T_len, dh, sc.kt);
  pack_rows(base, a.ld, (a.H + a.G + g) * dh, T_len, dh, sc.vx);  // V (T, dh)
  const T neg_inf = -std::numeric_limits<T>::infinity();
  for (int64_t hh = 0; hh < rep; ++hh) {
    const int64_t h = g * rep + hh;
    const T* q = base + h * dh;  // rows at stride ld
    T* lse = a.lse + (b * a.H + h) * T_len;
    double* rec = stats ? a.stats + (b * a.H + h) * (kAttnStatFixed + a.n_eps) : nullptr;
    for (int64_t i0 = 0; i0 < T_len; i0 += BQ) {
      const int64_t rows = std::min(BQ, T_len - i0);
      std::fill(sc.m, sc.m + rows, neg_inf);
      std::fill(sc.l, sc.l + rows, T(0));
      if (stats) std::fill(w, w + rows, T(0));
      std::fill(sc.o, sc.o + rows * dh, T(0));
      for (int64_t j0 = 0; j0 < i0 + rows; j0 += BK) {
        const int64_t cols = std::min(BK, i0 + rows - j0);
        tile_gemm<T>(rows, cols, dh, q + i0 * a.ld, a.ld, 1, sc.kt + j0, T_len, sc.s, BK, false);
        for (int64_t r = 0; r < rows; ++r) {
          T* srow = sc.s + r * BK;
          const int64_t n = visible(i0 + r, j0, cols);
          // z = scale s on the visible keys; their max
          const Vec<T> vscale(scale);
          Vec<T> vmax(neg_inf);
          int64_t c = 0;
          for (; c + VS <= n; c += VS) {
            const Vec<T> z = Vec<T>::loadu(srow + c) * vscale;
            z.store(srow + c);
            vmax = at::vec::maximum(vmax, z);
          }
          T mx = lanes_max(vmax);
          for (; c < n; ++c) {
            srow[c] *= scale;
            mx = std::max(mx, srow[c]);
          }
          if (stats) std::copy(srow, srow + n, zkeep + r * T_len + j0);
          if (n == 0) {
            std::fill(srow, srow + cols, T(0));
            continue;
          }
          const T m_new = std::max(sc.m[r], mx);
          const T alpha = std::exp(sc.m[r] - m_new);  // exp(-inf) = 0 the first time
          const Vec<T> vm(m_new);
          Vec<T> vsum(T(0)), vw(T(0));
          c = 0;
          for (; c + VS <= n; c += VS) {
            const Vec<T> z = Vec<T>::loadu(srow + c);
            const Vec<T> p = (z - vm).exp();
            p.store(srow + c);
            vsum = vsum + p;
            if (stats) vw = at::vec::fmadd(p, z, vw);
          }
          T sum = lanes_sum(vsum), wz = stats ? lanes_sum(vw) : T(0);
          for (; c < n; ++c) {
            const T z = srow[c];
            srow[c] = std::exp(z - m_new);
            sum += srow[c];
            wz += srow[c] * z;
          }
          std::fill(srow + n, srow + cols, T(0));  // keys after the query
          sc.l[r] = sc.l[r] * alpha + sum;
          if (stats) w[r] = w[r] * alpha + wz;
          sc.m[r] = m_new;
          if (alpha != T(1)) {
            T* orow = sc.o + r * dh;
            for (int64_t k = 0; k < dh; ++k) orow[k] *= alpha;
          }
        }
        // O (rows, dh) += P (rows, cols) V (cols, dh)
        tile_gemm<T>(rows, dh, cols, sc.s, BK, 1, sc.vx + j0 * dh, dh, sc.o, dh, true);
      }
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = i0 + r;
        const T inv = T(1) / sc.l[r];
        T* dst = a.out + (b * T_len + i) * a.ld_out + h * dh;
        const T* orow = sc.o + r * dh;
        for (int64_t k = 0; k < dh; ++k) dst[k] = orow[k] * inv;
        lse[i] = sc.m[r] + std::log(sc.l[r]);
        if (stats && i > 0) {
          // H_i = -sum_j A_ij (z_ij - lse_i) = lse_i - sum_j A_ij z_ij
          const double entropy = double(lse[i]) - double(w[r]) / double(sc.l[r]);
          rec[kAttnStatEntropy] += entropy;
          rec[kAttnStatEntropyNorm] += entropy / std::log(double(i) + 1.0);
        }
      }
      if (stats) tile_counts(a, zkeep, T_len, i0, rows, lse, rec);
    }
  }
}

template <typename T>
void attention_backward(const AttentionArgs<T>& a, int64_t b, int64_t g, T* scratch) {
  const int64_t T_len = a.T_len, dh = a.dh, rep = a.H / a.G;
  const T scale = T(a.scale);
  Scratch<T> sc(scratch, T_len, dh);
  const T* base = a.qkv + b * T_len * a.ld;
  const int64_t kcol = (a.H + g) * dh, vcol = (a.H + a.G + g) * dh;
  pack_transposed(base, a.ld, kcol, T_len, dh, sc.kt);
  pack_transposed(base, a.ld, vcol, T_len, dh, sc.vx);  // Vᵀ (dh, T)
  std::fill(sc.dk, sc.dk + T_len * dh, T(0));
  std::fill(sc.dv, sc.dv + T_len * dh, T(0));
  const T* krows = base + kcol;  // K rows at stride ld
  T* dbase = a.dqkv + b * T_len * a.ld;
  for (int64_t hh = 0; hh < rep; ++hh) {
    const int64_t h = g * rep + hh;
    const T* q = base + h * dh;
    const T* dO = a.dout + b * T_len * a.ld_out + h * dh;
    const T* O = a.out_saved + b * T_len * a.ld_out + h * dh;
    const T* lse = a.lse_saved + (b * a.H + h) * T_len;
    T* dq = dbase + h * dh;
    for (int64_t t = 0; t < T_len; ++t) {
      T d = 0;
      for (int64_t k = 0; k < dh; ++k) d += dO[t * a.ld_out + k] * O[t * a.ld_out + k];
      sc.rowv[t] = d;
      std::fill(dq + t * a.ld, dq + t * a.ld + dh, T(0));
    }
    for (int64_t i0 = 0; i0 < T_len; i0 += BQ) {
      const int64_t rows = std::min(BQ, T_len - i0);
      for (int64_t j0 = 0; j0 < i0 + rows; j0 += BK) {
        const int64_t cols = std::min(BK, i0 + rows - j0);
        // P = exp(scale Q Kᵀ - lse), zero after the query
        tile_gemm<T>(rows, cols, dh, q + i0 * a.ld, a.ld, 1, sc.kt + j0, T_len, sc.s, BK, false);
        for (int64_t r = 0; r < rows; ++r) {
          T* srow = sc.s + r * BK;
          const int64_t n = visible(i0 + r, j0, cols);
          const T l = lse[i0 + r];
          using V = Vec<T>;
          constexpr int VS = V::size();
          int64_t c = 0;
          for (; c + VS <= n; c += VS) (V::loadu(srow + c) * V(scale) - V(l)).exp().store(srow + c);
          for (; c < n; ++c) srow[c] = std::exp(srow[c] * scale - l);
          std::fill(srow + n, srow + cols, T(0));
        }
        // dV_j += Pᵀ dO_i
        tile_gemm<T>(cols, dh, rows, sc.s, 1, BK, dO + i0 * a.ld_out, a.ld_out, sc.dv + j0 * dh, dh,
                     true);
        // dP = dO_i Vᵀ_j
        tile_gemm<T>(rows, cols, dh, dO + i0 * a.ld_out, a.ld_out, 1, sc.vx + j0, T_len, sc.dp, BK,
                     false);
        // dS = scale P ∘ (dP - D)
        for (int64_t r = 0; r < rows; ++r) {
          const T* p = sc.s + r * BK;
          T* dp = sc.dp + r * BK;
          const T d = sc.rowv[i0 + r];
          using V = Vec<T>;
          constexpr int VS = V::size();
          int64_t c = 0;
          for (; c + VS <= cols; c += VS) {
            (V::loadu(p + c) * (V::loadu(dp + c) - V(d)) * V(scale)).store(dp + c);
          }
          for (; c < cols; ++c) dp[c] = p[c] * (dp[c] - d) * scale;
        }
        // dQ_i += dS K_j ;  dK_j += dSᵀ Q_i
        tile_gemm<T>(rows, dh, cols, sc.dp, BK, 1, krows + j0 * a.ld, a.ld, dq + i0 * a.ld, a.ld,
                     true);
        tile_gemm<T>(cols, dh, rows, sc.dp, 1, BK, q + i0 * a.ld, a.ld, sc.dk + j0 * dh, dh, true);
      }
    }
  }
  for (int64_t t = 0; t < T_len; ++t) {
    std::copy(sc.dk + t * dh, sc.dk + (t + 1) * dh, dbase + t * a.ld + kcol);
    std::copy(sc.dv + t * dh, sc.dv + (t + 1) * dh, dbase + t * a.ld + vcol);
  }
}

template <typename T>
void fill(KernelTable<T>& t) {
  t.attention_forward = attention_forward<T>;
  t.attention_backward = attention_backward<T>;
}

}  // namespace

void attention_fill(KernelTable<float>& t) { fill(t); }
void attention_fill(KernelTable<double>& t) { fill(t); }

}  // namespace CPU_CAPABILITY
}  // namespace dlab::kernels::cpu
