// RAII switches for LibTorch's autocast, which the reference kernels use for
// train.precision = bf16 on the CPU and on CUDA (the fused CPU kernels choose
// their products' precision themselves). Autocast state is per thread and per
// device type.
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace dlab {

// LibTorch 1.13 has one set of calls per device type; 2.x takes the device
// type as an argument (the 1.x names are deprecated there).
namespace autocast_detail {
#if TORCH_VERSION_MAJOR >= 2
inline bool enabled(bool cuda) {
  return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU);
}
inline void set_enabled(bool cuda, bool on) {
  at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, on);
}
inline at::ScalarType dtype(bool cuda) {
  return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU);
}
inline void set_dtype(bool cuda, at::ScalarType t) {
  at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, t);
}
#else
inline bool enabled(bool cuda) {
  return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
inline void set_enabled(bool cuda, bool on) {
  cuda ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on);
}
inline at::ScalarType dtype(bool cuda) {
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
inline void set_dtype(bool cuda, at::ScalarType t) {
  cuda ? at::autocast::set_autocast_gpu_dtype(t) : at::autocast::set_autocast_cpu_dtype(t);
}
#endif
}  // namespace autocast_detail

// bf16 autocast for the scope on the CPU or on CUDA: matrix products (linear,
// matmul, bmm, ...) take bfloat16 inputs; everything else keeps its dtype. Off
// again at scope exit, with the cast weights dropped from autocast's cache.
class AutocastBf16 {
 public:
  AutocastBf16(bool enable, bool cuda) : enable_(enable), cuda_(cuda) {
    if (!enable_) return;
    prev_enabled_ = autocast_detail::enabled(cuda_);
    prev_dtype_ = autocast_detail::dtype(cuda_);
    autocast_detail::set_enabled(cuda_, true);
    autocast_detail::set_dtype(cuda_, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~AutocastBf16() {
    if (!enable_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    autocast_detail::set_enabled(cuda_, prev_enabled_);
    autocast_detail::set_dtype(cuda_, prev_dtype_);
  }
  AutocastBf16(const AutocastBf16&) = delete;
  AutocastBf16& operator=(const AutocastBf16&) = delete;

 private:
  bool enable_, cuda_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

// No autocast for the scope, on either device type (the MoE router, which
// stays float32).
class AutocastOff {
 public:
  AutocastOff()
      : prev_cpu_(autocast_detail::enabled(false)), prev_cuda_(autocast_detail::enabled(true)) {
    autocast_detail::set_enabled(false, false);
    autocast_detail::set_enabled(true, false);
  }
  ~AutocastOff() {
    autocast_detail::set_enabled(false, prev_cpu_);
    autocast_detail::set_enabled(true, prev_cuda_);
  }
  AutocastOff(const AutocastOff&) = delete;
  AutocastOff& operator=(const AutocastOff&) = delete;

 private:
  bool prev_cpu_, prev_cuda_;
};

}  // namespace dlab
