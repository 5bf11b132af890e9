// Matrix products on raw row-major pointers through oneDNN, the library LibTorch
// itself uses for its bfloat16 matrix products. oneDNN picks its kernels by
// instruction set (not by CPU model, as OpenBLAS does) and runs on the calling
// thread's OpenMP team, the same threads as ATen's parallel_for: no second
// thread pool competes for the cores. No torch.
//
// op(A) is A or Aᵀ: with trans_a, A is stored (K, M) with row stride lda,
// otherwise (M, K); likewise B is (N, K) with trans_b, otherwise (K, N).
#pragma once

#include <cstdint>

namespace dlab::kernels {

// C (M, N) = alpha op(A) op(B) + beta C, float32 throughout.
void gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
              int64_t ldc);

// C (M, N) = op(A) op(B) with bfloat16 A and B (raw bits) and a float32 C:
// products of bf16 values summed in float32. Uses AMX or AVX-512 BF16 where
// the CPU has them (oneDNN's matmul primitive, cached per shape).
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A,
               int64_t lda, const uint16_t* B, int64_t ldb, float* C, int64_t ldc);

// Whether gemm_bf16 can run here (oneDNN has bfloat16 matmul kernels for
// AVX-512 and newer); the name of oneDNN's best instruction set on this CPU.
bool gemm_bf16_supported();
const char* gemm_isa_name();

}  // namespace dlab::kernels
