// The optimizer's fused passes over all parameters at once: the global
// gradient norm and AdamW's update (train.kernels = fused). Work is cut into
// fixed slices across all tensors, so the results never depend on the thread
// count.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace dlab::kernels {

// sum over tensors of sum(t^2), in double; undefined tensors count as zeros.
double sum_squares(const std::vector<torch::Tensor>& tensors);

struct AdamWStep {
  double lr = 0;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0;
  int64_t t = 1;            // the step number, from 1 (bias corrections)
  double grad_scale = 1.0;  // gradient clipping's factor, applied on the fly
};

// One AdamW update of float32 params with their grads, first and second
// moments; decay[i] says whether params[i] takes weight decay. A parameter
// whose grad is undefined is left alone (as torch.optim does).
void adamw_step(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& exp_avg,
                const std::vector<torch::Tensor>& exp_avg_sq, const std::vector<bool>& decay,
                const AdamWStep& step);

}  // namespace dlab::kernels
