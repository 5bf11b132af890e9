#include "train/adamw.h"

#include <cmath>
#include <map>

#include "common/error.h"
#include "kernels/optimizer.h"

namespace dlab {

bool adamw_decays(const std::string& hf_name, const torch::Tensor& param) {
  return param.dim() == 2 && hf_name != "model.embed_tokens.weight";
}

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> named_params, AdamWOptions options)
    : options_(options) {
  for (auto& [name, p] : named_params) {
    Slot s;
    s.name = name;
    s.param = p;
    s.exp_avg = torch::zeros_like(p);
    s.exp_avg_sq = torch::zeros_like(p);
    s.decay = adamw_decays(name, p);
    slots_.push_back(std::move(s));
  }
}

void AdamW::zero_grad() {
  for (auto& s : slots_) {
    if (s.param.grad().defined()) s.param.mutable_grad().zero_();
  }
}

void AdamW::step(double lr, double grad_scale) {
  torch::NoGradGuard no_grad;
  ++t_;
  if (options_.fused) {
    step_fused(lr, grad_scale);
    return;
  }
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double bias1 = 1.0 - std::pow(b1, double(t_));
  const double bias2 = 1.0 - std::pow(b2, double(t_));
  for (auto& s : slots_) {
    torch::Tensor g = s.param.grad();
    if (!g.defined()) continue;  // never reached by a gradient (an unused expert): as torch.optim
    if (grad_scale != 1.0) g = g * grad_scale;
    s.exp_avg.mul_(b1).add_(g, 1.0 - b1);            // m = b1 m + (1-b1) g
    s.exp_avg_sq.mul_(b2).addcmul_(g, g, 1.0 - b2);  // v = b2 v + (1-b2) g^2
    if (s.decay && options_.weight_decay != 0.0) {
      s.param.mul_(1.0 - lr * options_.weight_decay);  // decoupled decay (AdamW)
    }
    // p -= lr * m_hat / (sqrt(v_hat) + eps), same operation order as torch.optim.AdamW
    torch::Tensor denom = (s.exp_avg_sq.sqrt() / std::sqrt(bias2)).add_(options_.eps);
    s.param.addcdiv_(s.exp_avg, denom, -lr / bias1);
  }
}

void AdamW::step_fused(double lr, double grad_scale) {
  std::vector<torch::Tensor> params, m, v;
  std::vector<bool> decay;
  for (auto& s : slots_) {
    params.push_back(s.param);
    m.push_back(s.exp_avg);
    v.push_back(s.exp_avg_sq);
    decay.push_back(s.decay);
  }
  kernels::AdamWStep step;
  step.lr = lr;
  step.beta1 = options_.beta1;
  step.beta2 = options_.beta2;
  step.eps = options_.eps;
  step.weight_decay = options_.weight_decay;
  step.t = t_;
  step.grad_scale = grad_scale;
  kernels::adamw_step(params, m, v, decay, step);
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& s : slots_) {
    out.emplace_back("exp_avg/" + s.name, s.exp_avg);
    out.emplace_back("exp_avg_sq/" + s.name, s.exp_avg_sq);
  }
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state, int64_t t) {
  std::map<std::string, torch::Tensor> by_name(state.begin(), state.end());
  torch::NoGradGuard no_grad;
  for (auto& s : slots_) {
    for (auto* pair : {&s.exp_avg, &s.exp_avg_sq}) {
      const std::string key = (pair == &s.exp_avg ? "exp_avg/" : "exp_avg_sq/") + s.name;
      auto it = by_name.find(key);
      if (it == by_name.end()) throw Error("optimizer state has no entry '" + key + "'");
      if (it->second.sizes() != s.param.sizes()) {
        throw Error("optimizer state '" + key + "' has shape " + c10::str(it->second.sizes()) +
                    ", the parameter has " + c10::str(s.param.sizes()));
      }
      pair->copy_(it->second);
    }
  }
  t_ = t;
}

}  // namespace dlab
