// Helpers shared by the fused operations' wrappers (not part of the API).
#pragma once

#include <torch/torch.h>

#include <string>

#include "common/error.h"

namespace dlab::kernels::detail {

// float32 or float64 on the CPU, or dlab::Error naming the operation.
inline void check_floating(const torch::Tensor& t, const char* op, const char* what) {
  if (!t.defined() || t.device().type() != torch::kCPU ||
      (t.scalar_type() != torch::kFloat32 && t.scalar_type() != torch::kFloat64)) {
    throw Error(std::string(op) + ": " + what + " must be a float32 or float64 CPU tensor, got " +
                (t.defined() ? std::string(c10::toString(t.scalar_type())) + " on " +
                                   c10::DeviceTypeName(t.device().type())
                             : std::string("an undefined tensor")));
  }
}

inline void check_same_dtype(const torch::Tensor& a, const torch::Tensor& b, const char* op) {
  if (a.scalar_type() != b.scalar_type()) {
    throw Error(std::string(op) + ": dtypes differ (" + c10::toString(a.scalar_type()) + " and " +
                c10::toString(b.scalar_type()) + ")");
  }
}

// Rows per parallel task for a kernel touching `row_elems` values per row:
// about 16K values a task, so that small inputs stay on one thread.
inline int64_t row_grain(int64_t row_elems) {
  return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, row_elems));
}

}  // namespace dlab::kernels::detail
