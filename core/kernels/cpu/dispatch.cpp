// Picks the kernel tables of the instruction set cpu_capability() names.
#include "kernels/cpu/kernels.h"
#include "kernels/cpu_features.h"

namespace dlab::kernels::cpu {
namespace {

template <typename Table>
Table make(void (*fill_default)(Table&), void (*fill_avx2)(Table&), void (*fill_avx512)(Table&)) {
  Table t{};
  switch (cpu_capability()) {
    case CpuCapability::Avx512:
      fill_avx512(t);
      break;
    case CpuCapability::Avx2:
      fill_avx2(t);
      break;
    case CpuCapability::Default:
      fill_default(t);
      break;
  }
  return t;
}

template <typename T>
KernelTable<T> make_table() {
  KernelTable<T> t =
      make<KernelTable<T>>(DEFAULT::attention_fill, AVX2::attention_fill, AVX512::attention_fill);
  KernelTable<T> e = make<KernelTable<T>>(DEFAULT::elementwise_fill, AVX2::elementwise_fill,
                                          AVX512::elementwise_fill);
  e.attention_forward = t.attention_forward;
  e.attention_backward = t.attention_backward;
  return e;
}

}  // namespace

const KernelTable<float>& kernel_table_f32() {
  static const KernelTable<float> t = make_table<float>();
  return t;
}

const KernelTable<double>& kernel_table_f64() {
  static const KernelTable<double> t = make_table<double>();
  return t;
}

const KernelTableF32Only& kernel_table_f32_only() {
  static const KernelTableF32Only t = make<KernelTableF32Only>(
      DEFAULT::optimizer_fill, AVX2::optimizer_fill, AVX512::optimizer_fill);
  return t;
}

}  // namespace dlab::kernels::cpu
