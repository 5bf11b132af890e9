// AdamW's update in one pass over a slice;
// compiled once per instruction set (see kernels.h).
#include <ATen/cpu/vec/vec.h>

#include <cmath>

#include "kernels/cpu/kernels.h"

namespace dlab::kernels::cpu {
namespace CPU_CAPABILITY {
namespace {

using Vec = at::vec::Vectorized<float>;

// The reference (core/train/adamw.cpp) runs these as separate ATen passes:
//   m.mul_(b1).add_(g, 1-b1); v.mul_(b2).addcmul_(g, g, 1-b2); p.mul_(decay);
//   p.addcdiv_(m, sqrt(v)/sqrt(bias2) + eps, -step_size)
// Here one load and one store of p, m, v per element.
void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWArgs& a) {
  constexpr int VS = Vec::size();
  const Vec b1(a.b1), b2(a.b2), c1(1.0f - a.b1), c2(1.0f - a.b2), gs(a.grad_scale), decay(a.decay),
      step(a.step_size), ib2(a.inv_sqrt_bias2), eps(a.eps);
  auto update = [&](int64_t i, int64_t len) {
    const Vec gv = Vec::loadu(g + i, len) * gs;
    const Vec mv = Vec::loadu(m + i, len) * b1 + gv * c1;
    const Vec vv = Vec::loadu(v + i, len) * b2 + gv * gv * c2;
    const Vec pv = Vec::loadu(p + i, len) * decay;
    (pv - step * mv / (vv.sqrt() * ib2 + eps)).store(p + i, len);
    mv.store(m + i, len);
    vv.store(v + i, len);
  };
  int64_t i = 0;
  for (; i + VS <= n; i += VS) update(i, VS);
  if (i < n) update(i, n - i);
}

}  // namespace

void optimizer_fill(KernelTableF32Only& t) { t.adamw_update = adamw_update; }

}  // namespace CPU_CAPABILITY
}  // namespace dlab::kernels::cpu
