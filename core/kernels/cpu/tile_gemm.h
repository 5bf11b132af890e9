// A small register-blocked matrix product for the attention tiles:
//   C (M, N) (+)= A (M, K) · B (K, N)
// B and C row-major (row strides ldb, ldc); element (i, k) of A at
// a[i * a_rs + k * a_cs], so a transposed A is just other strides. Vectorised
// over N with at::vec: MR rows × NV vectors of C stay in registers while k
// runs, each step one broadcast of A per row and one load of B per vector.
// Include only from the per-instruction-set kernel files.
#pragma once

#include <ATen/cpu/vec/vec.h>

#include <cstdint>

namespace dlab::kernels::cpu {
namespace CPU_CAPABILITY {

template <typename T, int MR, int NV>
inline void tile_block(int64_t K, const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t ldb,
                       T* c, int64_t ldc, bool accumulate) {
  using Vec = at::vec::Vectorized<T>;
  constexpr int VS = Vec::size();
  Vec acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      acc[r][v] = accumulate ? Vec::loadu(c + r * ldc + v * VS) : Vec(T(0));
    }
  }
  for (int64_t k = 0; k < K; ++k) {
    Vec bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = Vec::loadu(b + k * ldb + v * VS);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const Vec av(a[r * a_rs + k * a_cs]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = at::vec::fmadd(av, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v].store(c + r * ldc + v * VS);
  }
}

// The last n < VS columns: one partial vector per row.
template <typename T, int MR>
inline void tile_block_tail(int64_t K, int64_t n, const T* a, int64_t a_rs, int64_t a_cs,
                            const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  using Vec = at::vec::Vectorized<T>;
  Vec acc[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r] = accumulate ? Vec::loadu(c + r * ldc, n) : Vec(T(0));
  for (int64_t k = 0; k < K; ++k) {
    const Vec bv = Vec::loadu(b + k * ldb, n);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) acc[r] = at::vec::fmadd(Vec(a[r * a_rs + k * a_cs]), bv, acc[r]);
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r].store(c + r * ldc, n);
}

// Rows in blocks of MR, then one at a time.
template <typename T, int MR, int NV>
inline void tile_rows(int64_t M, int64_t K, const T* a, int64_t a_rs, int64_t a_cs, const T* b,
                      int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  int64_t i = 0;
  for (; i + MR <= M; i += MR) {
    tile_block<T, MR, NV>(K, a + i * a_rs, a_rs, a_cs, b, ldb, c + i * ldc, ldc, accumulate);
  }
  for (; i < M; ++i) {
    tile_block<T, 1, NV>(K, a + i * a_rs, a_rs, a_cs, b, ldb, c + i * ldc, ldc, accumulate);
  }
}

template <typename T>
inline void tile_gemm(int64_t M, int64_t N, int64_t K, const T* a, int64_t a_rs, int64_t a_cs,
                      const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  constexpr int VS = at::vec::Vectorized<T>::size();
  int64_t n = 0;
  // 16 accumulators: 4 rows x 4 vectors for wide tiles, 8 x 2 for a head of two
  // vectors (8 divides the 64-row tiles, so no single-row remainder).
  for (; n + 4 * VS <= N; n += 4 * VS) {
    tile_rows<T, 4, 4>(M, K, a, a_rs, a_cs, b + n, ldb, c + n, ldc, accumulate);
  }
  for (; n + 2 * VS <= N; n += 2 * VS) {
    tile_rows<T, 8, 2>(M, K, a, a_rs, a_cs, b + n, ldb, c + n, ldc, accumulate);
  }
  for (; n + VS <= N; n += VS) {
    tile_rows<T, 8, 1>(M, K, a, a_rs, a_cs, b + n, ldb, c + n, ldc, accumulate);
  }
  if (n < N) {
    int64_t i = 0;
    for (; i + 4 <= M; i += 4) {
      tile_block_tail<T, 4>(K, N - n, a + i * a_rs, a_rs, a_cs, b + n, ldb, c + i * ldc + n, ldc,
                            accumulate);
    }
    for (; i < M; ++i) {
      tile_block_tail<T, 1>(K, N - n, a + i * a_rs, a_rs, a_cs, b + n, ldb, c + i * ldc + n, ldc,
                            accumulate);
    }
  }
}

}  // namespace CPU_CAPABILITY
}  // namespace dlab::kernels::cpu
