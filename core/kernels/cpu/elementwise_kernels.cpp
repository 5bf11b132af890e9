// Row-wise kernels: RMSNorm, RoPE, SwiGLU, cross-entropy rows, sums of squares.
// Compiled once per instruction set (see kernels.h); the formulas are those of
// METRICS.md §1 and the reference modules in core/model.
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/kernels.h"

namespace dlab::kernels::cpu {
namespace CPU_CAPABILITY {
namespace {

template <typename T>
using Vec = at::vec::Vectorized<T>;

// sum_i x[i] * y[i] in T, vector lanes first, then the lanes in order.
template <typename T>
T dot(const T* x, const T* y, int64_t n) {
  constexpr int VS = Vec<T>::size();
  Vec<T> acc0(T(0)), acc1(T(0));
  int64_t i = 0;
  for (; i + 2 * VS <= n; i += 2 * VS) {
    acc0 = at::vec::fmadd(Vec<T>::loadu(x + i), Vec<T>::loadu(y + i), acc0);
    acc1 = at::vec::fmadd(Vec<T>::loadu(x + i + VS), Vec<T>::loadu(y + i + VS), acc1);
  }
  for (; i + VS <= n; i += VS) {
    acc0 = at::vec::fmadd(Vec<T>::loadu(x + i), Vec<T>::loadu(y + i), acc0);
  }
  T lanes[VS];
  (acc0 + acc1).store(lanes);
  T s = 0;
  for (int l = 0; l < VS; ++l) s += lanes[l];
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

template <typename T>
void rmsnorm_forward(const T* x, int64_t ldx, const T* w, T* y, T* rstd, int64_t rows, int64_t d,
                     double eps, double scale) {
  constexpr int VS = Vec<T>::size();
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * ldx;
    T* yr = y + r * d;
    const T inv = T(1) / std::sqrt(dot(xr, xr, d) / T(d) + T(eps));
    rstd[r] = inv;
    const Vec<T> f(inv * T(scale));
    int64_t i = 0;
    for (; i + VS <= d; i += VS) {
      (Vec<T>::loadu(xr + i) * f * Vec<T>::loadu(w + i)).store(yr + i);
    }
    for (; i < d; ++i) yr[i] = xr[i] * (inv * T(scale)) * w[i];
  }
}

// y = x r w s: dx = r (g - xhat mean(g xhat)), g = dy w s, xhat = x r; dw += dy xhat s.
template <typename T>
void rmsnorm_backward(const T* x, int64_t ldx, const T* w, const T* rstd, const T* dy, T* dx,
                      T* dw_acc, int64_t rows, int64_t d, double scale) {
  constexpr int VS = Vec<T>::size();
  const T s = T(scale);
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * ldx;
    const T* gr = dy + r * d;
    T* dxr = dx + r * d;
    const T inv = rstd[r];
    // mean over channels of (dy w s) * (x r) = r s / d * sum(dy w x)
    T gwx = 0;
    {
      Vec<T> acc(T(0));
      int64_t i = 0;
      for (; i + VS <= d; i += VS) {
        acc = at::vec::fmadd(Vec<T>::loadu(gr + i) * Vec<T>::loadu(w + i), Vec<T>::loadu(xr + i),
                             acc);
      }
      T lanes[VS];
      acc.store(lanes);
      for (int l = 0; l < VS; ++l) gwx += lanes[l];
      for (; i < d; ++i) gwx += gr[i] * w[i] * xr[i];
    }
    const T c = gwx * s * inv * inv / T(d);  // mean(g xhat) / r
    const Vec<T> vs(s), vinv(inv), vc(c);
    int64_t i = 0;
    for (; i + VS <= d; i += VS) {
      const Vec<T> xv = Vec<T>::loadu(xr + i);
      const Vec<T> gv = Vec<T>::loadu(gr + i);
      const Vec<T> g = gv * Vec<T>::loadu(w + i) * vs;
      (vinv * (g - xv * vc)).store(dxr + i);
      at::vec::fmadd(gv * vs, xv * vinv, Vec<T>::loadu(dw_acc + i)).store(dw_acc + i);
    }
    for (; i < d; ++i) {
      const T g = gr[i] * w[i] * s;
      dxr[i] = inv * (g - xr[i] * c);
      dw_acc[i] += gr[i] * s * xr[i] * inv;
    }
  }
}

template <typename T>
void rope_rotate(const T* in, T* out, int64_t ld, const T* cos, const T* sin, int64_t ld_tab,
                 int64_t first_row, int64_t rows, int64_t T_len, int64_t n_rot, int64_t n_copy,
                 int64_t dh, bool inverse) {
  constexpr int VS = Vec<T>::size();
  const int64_t half = dh / 2;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = (first_row + r) % T_len;
    const T* c = cos + t * ld_tab;
    const T* s = sin + t * ld_tab;
    const T* x = in + r * ld;
    T* y = out + r * ld;
    for (int64_t h = 0; h < n_rot; ++h) {
      const T* a = x + h * dh;  // first half
      const T* b = a + half;    // second half
      T* ya = y + h * dh;
      T* yb = ya + half;
      int64_t k = 0;
      if (!inverse) {  // [a, b] -> [a c - b s, b c + a s]
        for (; k + VS <= half; k += VS) {
          const Vec<T> av = Vec<T>::loadu(a + k), bv = Vec<T>::loadu(b + k);
          const Vec<T> cv = Vec<T>::loadu(c + k), sv = Vec<T>::loadu(s + k);
          (av * cv - bv * sv).store(ya + k);
          (bv * cv + av * sv).store(yb + k);
        }
        for (; k < half; ++k) {
          const T av = a[k], bv = b[k];
          ya[k] = av * c[k] - bv * s[k];
          yb[k] = bv * c[k] + av * s[k];
        }
      } else {  // the transpose: [a, b] -> [a c + b s, b c - a s]
        for (; k + VS <= half; k += VS) {
          const Vec<T> av = Vec<T>::loadu(a + k), bv = Vec<T>::loadu(b + k);
          const Vec<T> cv = Vec<T>::loadu(c + k), sv = Vec<T>::loadu(s + k);
          (av * cv + bv * sv).store(ya + k);
          (bv * cv - av * sv).store(yb + k);
        }
        for (; k < half; ++k) {
          const T av = a[k], bv = b[k];
          ya[k] = av * c[k] + bv * s[k];
          yb[k] = bv * c[k] - av * s[k];
        }
      }
    }
    if (n_copy > 0 && x != y) std::copy(x + n_rot * dh, x + (n_rot + n_copy) * dh, y + n_rot * dh);
  }
}

template <typename T>
Vec<T> sigmoid(const Vec<T>& g) {
  return Vec<T>(T(1)) / (Vec<T>(T(1)) + g.neg().exp());
}

template <typename T>
void swiglu_forward(const T* gu, T* m, int64_t rows, int64_t f) {
  constexpr int VS = Vec<T>::size();
  for (int64_t r = 0; r < rows; ++r) {
    const T* g = gu + r * 2 * f;
    const T* u = g + f;
    T* mr = m + r * f;
    int64_t i = 0;
    for (; i + VS <= f; i += VS) {
      const Vec<T> gv = Vec<T>::loadu(g + i);
      (gv * sigmoid(gv) * Vec<T>::loadu(u + i)).store(mr + i);
    }
    if (i < f) {
      const int64_t n = f - i;
      const Vec<T> gv = Vec<T>::loadu(g + i, n);
      (gv * sigmoid(gv) * Vec<T>::loadu(u + i, n)).store(mr + i, n);
    }
  }
}

// d silu(g)/dg = sig(g) (1 + g (1 - sig(g)))
template <typename T>
void swiglu_backward(const T* gu, const T* dm, T* dgu, int64_t rows, int64_t f) {
  constexpr int VS = Vec<T>::size();
  const Vec<T> one(T(1));
  auto step = [&](const T* g, const T* u, const T* d, T* dg, T* du, int64_t n) {
    const Vec<T> gv = Vec<T>::loadu(g, n), uv = Vec<T>::loadu(u, n), dv = Vec<T>::loadu(d, n);
    const Vec<T> sg = sigmoid(gv);
    const Vec<T> silu = gv * sg;
    (dv * uv * sg * (one + gv * (one - sg))).store(dg, n);
    (dv * silu).store(du, n);
  };
  for (int64_t r = 0; r < rows; ++r) {
    const T* g = gu + r * 2 * f;
    const T* u = g + f;
    const T* d = dm + r * f;
    T* dg = dgu + r * 2 * f;
    T* du = dg + f;
    int64_t i = 0;
    for (; i + VS <= f; i += VS) step(g + i, u + i, d + i, dg + i, du + i, VS);
    if (i < f) step(g + i, u + i, d + i, dg + i, du + i, f - i);
  }
}

template <typename T>
void cross_entropy_rows(T* logits, int64_t ld, const int64_t* targets, int64_t rows, int64_t V,
                        T* loss, double grad_scale) {
  constexpr int VS = Vec<T>::size();
  for (int64_t r = 0; r < rows; ++r) {
    T* x = logits + r * ld;
    const T mx =
        at::vec::reduce_all<T>([](Vec<T>& a, Vec<T>& b) { return at::vec::maximum(a, b); }, x, V);
    const Vec<T> vmx(mx);
    Vec<T> acc(T(0));
    int64_t i = 0;
    for (; i + VS <= V; i += VS) acc = acc + (Vec<T>::loadu(x + i) - vmx).exp();
    T lanes[VS];
    acc.store(lanes);
    T sum = 0;
    for (int l = 0; l < VS; ++l) sum += lanes[l];
    for (; i < V; ++i) sum += std::exp(x[i] - mx);
    const T lse = mx + std::log(sum);
    const int64_t t = targets[r];
    loss[r] = lse - x[t];
    if (grad_scale != 0.0) {
      const Vec<T> vlse(lse), gs{T(grad_scale)};
      i = 0;
      for (; i + VS <= V; i += VS) ((Vec<T>::loadu(x + i) - vlse).exp() * gs).store(x + i);
      for (; i < V; ++i) x[i] = std::exp(x[i] - lse) * T(grad_scale);
      x[t] -= T(grad_scale);
    }
  }
}

template <typename T>
double sum_squares(const T* x, int64_t n) {
  // Blocks of 4096 summed in T, the block sums in double: fast and, for a
  // gradient norm, accurate to ~1e-7 relative.
  double total = 0;
  for (int64_t i0 = 0; i0 < n; i0 += 4096) {
    const int64_t len = std::min<int64_t>(4096, n - i0);
    total += double(dot(x + i0, x + i0, len));
  }
  return total;
}

// Vectorized<double>::size() values of p as doubles.
template <typename T>
Vec<double> load_double(const T* p);
template <>
inline Vec<double> load_double<double>(const double* p) {
  return Vec<double>::loadu(p);
}
template <>
inline Vec<double> load_double<float>(const float* p) {
#if defined(CPU_CAPABILITY_AVX512)
  return Vec<double>(_mm512_cvtps_pd(_mm256_loadu_ps(p)));
#elif defined(CPU_CAPABILITY_AVX2)
  return Vec<double>(_mm256_cvtps_pd(_mm_loadu_ps(p)));
#else
  double tmp[Vec<double>::size()];
  for (int i = 0; i < Vec<double>::size(); ++i) tmp[i] = double(p[i]);
  return Vec<double>::loadu(tmp);
#endif
}

template <typename T>
T vsum(const Vec<T>& v) {
  return at::vec::vec_reduce_all<T>([](Vec<T>& a, Vec<T>& b) { return a + b; }, v);
}

template <typename T>
void residual_moments(const T* x, int64_t rows, int64_t d, const T* shift, double* row_sums,
                      double* col_sums) {
  constexpr int VS = Vec<T>::size();
  // Per row: shifted by the row's first value, so a constant row gives exact
  // zeros (and the "3 when s = 0" rule), as metrics/residual_stats.cpp does.
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    const Vec<T> x0(xr[0]);
    Vec<T> acc(T(0));
    int64_t i = 0;
    for (; i + VS <= d; i += VS) acc = acc + (Vec<T>::loadu(xr + i) - x0);
    T sum = vsum(acc);
    for (; i < d; ++i) sum += xr[i] - xr[0];
    const Vec<T> mu(sum / T(d));
    Vec<T> a2(T(0)), a4(T(0));
    i = 0;
    for (; i + VS <= d; i += VS) {
      const Vec<T> c = Vec<T>::loadu(xr + i) - x0 - mu;
      const Vec<T> c2 = c * c;
      a2 = a2 + c2;
      a4 = at::vec::fmadd(c2, c2, a4);
    }
    T m2 = vsum(a2), m4 = vsum(a4);
    for (; i < d; ++i) {
      const T c = xr[i] - xr[0] - sum / T(d);
      m2 += c * c;
      m4 += c * c * c * c;
    }
    const double var = double(m2) / double(d - 1);
    row_sums[0] += var;
    row_sums[1] += var == 0 ? 3.0 : double(m4) / double(d) / (var * var);
  }
  if (!col_sums) return;
  // Per channel: power sums of y = x - shift over these rows in float64, a
  // block of channels held in registers while the rows go by.
  constexpr int VD = Vec<double>::size();
  double* s1 = col_sums;
  double* s2 = s1 + d;
  double* s3 = s2 + d;
  double* s4 = s3 + d;
  int64_t j = 0;
  for (; j + VD <= d; j += VD) {
    const Vec<double> sh = load_double(shift + j);
    Vec<double> a1(0.0), a2(0.0), a3(0.0), a4(0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const Vec<double> y = load_double(x + r * d + j) - sh;
      const Vec<double> y2 = y * y;
      a1 = a1 + y;
      a2 = a2 + y2;
      a3 = at::vec::fmadd(y2, y, a3);
      a4 = at::vec::fmadd(y2, y2, a4);
    }
    (Vec<double>::loadu(s1 + j) + a1).store(s1 + j);
    (Vec<double>::loadu(s2 + j) + a2).store(s2 + j);
    (Vec<double>::loadu(s3 + j) + a3).store(s3 + j);
    (Vec<double>::loadu(s4 + j) + a4).store(s4 + j);
  }
  for (; j < d; ++j) {
    for (int64_t r = 0; r < rows; ++r) {
      const double y = double(x[r * d + j]) - double(shift[j]);
      const double y2 = y * y;
      s1[j] += y;
      s2[j] += y2;
      s3[j] += y2 * y;
      s4[j] += y2 * y2;
    }
  }
}

template <typename T>
void magnitude_counts(const T* x, int64_t n, const double* eps, int n_eps, double lo,
                      double bins_per_unit, int bins, int64_t* below, int64_t* hist) {
  constexpr int VS = Vec<T>::size();
  const Vec<T> one(T(1)), vlo{T(lo)}, vbpu{T(bins_per_unit)}, vlast{T(bins - 1)}, vzero(T(0));
  Vec<T> veps[kMaxEps], cnt[kMaxEps];
  for (int e = 0; e < n_eps; ++e) {
    veps[e] = Vec<T>(T(eps[e]));
    cnt[e] = vzero;
  }
  T bin[VS];
  int64_t i = 0;
  for (; i + VS <= n; i += VS) {
    const Vec<T> a = Vec<T>::loadu(x + i).abs();
    for (int e = 0; e < n_eps; ++e) cnt[e] = cnt[e] + ((a < veps[e]) & one);
    // as the reference: floor((log10|w| - lo) * bins_per_unit), clamped; NaN stays NaN
    const Vec<T> pos = ((a.log10() - vlo) * vbpu).floor();
    at::vec::clamp(pos, vzero, vlast).store(bin);
    for (int l = 0; l < VS; ++l) {
      if (!std::isnan(bin[l])) ++hist[int(bin[l])];
    }
  }
  for (int e = 0; e < n_eps; ++e) {
    T lanes[VS];
    cnt[e].store(lanes);
    for (int l = 0; l < VS; ++l) below[e] += int64_t(lanes[l]);
  }
  for (; i < n; ++i) {
    const T a = std::abs(x[i]);
    for (int e = 0; e < n_eps; ++e) below[e] += a < T(eps[e]) ? 1 : 0;
    T pos = std::floor((std::log10(a) - T(lo)) * T(bins_per_unit));
    if (std::isnan(pos)) continue;
    pos = std::min(std::max(pos, T(0)), T(bins - 1));
    ++hist[int(pos)];
  }
}

template <typename T>
void fill(KernelTable<T>& t) {
  t.rmsnorm_forward = rmsnorm_forward<T>;
  t.rmsnorm_backward = rmsnorm_backward<T>;
  t.rope_rotate = rope_rotate<T>;
  t.swiglu_forward = swiglu_forward<T>;
  t.swiglu_backward = swiglu_backward<T>;
  t.cross_entropy_rows = cross_entropy_rows<T>;
  t.sum_squares = sum_squares<T>;
  t.residual_moments = residual_moments<T>;
  t.magnitude_counts = magnitude_counts<T>;
}

}  // namespace

void elementwise_fill(KernelTable<float>& t) { fill(t); }
void elementwise_fill(KernelTable<double>& t) { fill(t); }

}  // namespace CPU_CAPABILITY
}  // namespace dlab::kernels::cpu
