// AdamW written out (llm.c style) rather than torch::optim::AdamW, so that its
// state is plainly named per parameter and can be saved to / restored from a
// checkpoint bit-exactly, and so that the decay groups of METRICS.md §1 are explicit.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace dlab {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
  // One pass over all parameters (kernels::adamw_step) instead of the plain
  // ATen operations below; the same update up to float rounding.
  bool fused = false;
};

// METRICS.md §1: decay every Linear weight (attention, FFN, experts, router, lm_head);
// never norm gains or the token embedding.
bool adamw_decays(const std::string& hf_name, const torch::Tensor& param);

class AdamW {
 public:
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> named_params, AdamWOptions options);

  // One update at learning rate `lr` using the parameters' current .grad(),
  // multiplied by grad_scale first (gradient clipping). A parameter whose
  // gradient is undefined (no backward reached it yet) is left alone, as
  // torch.optim does.
  void step(double lr, double grad_scale = 1.0);
  void zero_grad();

  int64_t steps_taken() const { return t_; }
  // State as named tensors: "exp_avg/<name>", "exp_avg_sq/<name>" (float32, parameter shape).
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  // Restores state() output; throws dlab::Error naming any missing or mismatched entry.
  void load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state, int64_t t);

 private:
  struct Slot {
    std::string name;
    torch::Tensor param;
    torch::Tensor exp_avg;     // same shape as param
    torch::Tensor exp_avg_sq;  // same shape as param
    bool decay = false;
  };
  void step_fused(double lr, double grad_scale);

  std::vector<Slot> slots_;
  AdamWOptions options_;
  int64_t t_ = 0;
};

}  // namespace dlab
