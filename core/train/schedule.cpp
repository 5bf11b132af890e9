#include "train/schedule.h"

#include <algorithm>
#include <cmath>

namespace dlab {

double lr_at(int64_t step, int64_t total_steps, int64_t warmup_steps, double peak,
             double min_ratio) {
  if (step < warmup_steps) return peak * double(step + 1) / double(warmup_steps);
  const double min_lr = min_ratio * peak;
  const int64_t decay_steps = std::max<int64_t>(1, total_steps - 1 - warmup_steps);
  const double progress = std::clamp(double(step - warmup_steps) / double(decay_steps), 0.0, 1.0);
  const double coeff = 0.5 * (1.0 + std::cos(M_PI * progress));  // 1 -> 0
  return min_lr + coeff * (peak - min_lr);
}

}  // namespace dlab
