// Learning-rate schedule of the paper: linear warm-up, then cosine decay to
// min_lr_ratio x peak at the last step.
#pragma once

#include <cstdint>

namespace dlab {

// Learning rate for the update that turns `step` completed updates into step+1.
// Warm-up: peak * (step + 1) / warmup (llm.c convention: the first update is not wasted
// at lr 0). Afterwards cosine from peak at step = warmup down to min_ratio * peak at
// step = total - 1.
double lr_at(int64_t step, int64_t total_steps, int64_t warmup_steps, double peak,
             double min_ratio);

}  // namespace dlab
