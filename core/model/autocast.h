// RAII switches for LibTorch's CPU autocast, which the reference kernels use
// for train.precision = bf16 (the fused kernels choose their products'
// precision themselves). Autocast state is per thread.
#pragma once

#include <ATen/autocast_mode.h>

namespace dlab {

// bf16 autocast for the scope: matrix products (linear, matmul, bmm, ...) take
// bfloat16 inputs; everything else keeps its dtype. Off again at scope exit,
// with the cast weights dropped from autocast's cache.
class CpuAutocastBf16 {
 public:
  explicit CpuAutocastBf16(bool enable) : enable_(enable) {
    if (!enable_) return;
    prev_enabled_ = at::autocast::is_cpu_enabled();
    prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~CpuAutocastBf16() {
    if (!enable_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_cpu_enabled(prev_enabled_);
    at::autocast::set_autocast_cpu_dtype(prev_dtype_);
  }
  CpuAutocastBf16(const CpuAutocastBf16&) = delete;
  CpuAutocastBf16& operator=(const CpuAutocastBf16&) = delete;

 private:
  bool enable_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

// No autocast for the scope (the MoE router, which stays float32).
class CpuAutocastOff {
 public:
  CpuAutocastOff() : prev_(at::autocast::is_cpu_enabled()) { at::autocast::set_cpu_enabled(false); }
  ~CpuAutocastOff() { at::autocast::set_cpu_enabled(prev_); }
  CpuAutocastOff(const CpuAutocastOff&) = delete;
  CpuAutocastOff& operator=(const CpuAutocastOff&) = delete;

 private:
  bool prev_;
};

}  // namespace dlab
