// The BLAS that LibTorch's own matrix products go through (OpenBLAS on Debian),
// checked and corrected once per process.
//
// OpenBLAS built with DYNAMIC_ARCH picks its kernels by CPU model number, and a
// model it does not know (Debian 12's 0.3.21 and Intel's Emerald Rapids, say)
// falls back to its SSE3 "Prescott" kernels: 5x slower matrix products on a
// CPU with AVX-512. blas_configure() asks OpenBLAS which kernels it chose and,
// when they are older than what the CPU's instruction set supports, switches to
// the right family (SkylakeX for AVX-512, Haswell for AVX2), exactly as
// OPENBLAS_CORETYPE would. A user's own OPENBLAS_CORETYPE is never overridden.
// No torch.
#pragma once

#include <string>

namespace dlab::kernels {

struct BlasInfo {
  bool openblas = false;      // libopenblas is loaded
  std::string config;         // openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ..."
  std::string core_detected;  // the kernel family OpenBLAS chose by itself
  std::string core;           // the family in use now
  bool corrected = false;     // blas_configure() switched core_detected -> core
  std::string threading;      // "pthread", "openmp", "sequential" or "unknown"
};

// Idempotent; call it first thing in main(), before any thread runs a BLAS
// call (it re-initialises OpenBLAS's kernel table). Sets OPENBLAS_CORETYPE in
// the environment when it corrects, so child processes (ranks) start right.
const BlasInfo& blas_configure();

// OpenBLAS's own thread count (process-wide); no-op without OpenBLAS.
void blas_threads_set(int n);

// One line for logs and `dlab bench`: "OpenBLAS 0.3.21 (pthread), kernels SkylakeX
// (corrected from Prescott)".
std::string blas_describe();

}  // namespace dlab::kernels
