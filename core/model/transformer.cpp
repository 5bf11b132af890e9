#include "model/transformer.h"

#include <cmath>
#include <map>

#include "common/config_validate.h"
#include "common/error.h"
#include "model/autocast.h"

namespace dlab {

std::mutex& model_init_mutex() {
  static std::mutex m;
  return m;
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_str(torch::IntArrayRef shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// h (B, T, d) -> h W + b, or h Wᵀ + b.
torch::Tensor linear_map_apply(const LinearMap& map, const torch::Tensor& h, int position) {
  const int64_t d = h.size(-1);
  const std::string where = "layer plan position " + std::to_string(position) + ": linear map ";
  if (map.weight.dim() != 2 || map.weight.size(0) != d || map.weight.size(1) != d) {
    throw Error(where + "weight has shape " + shape_str(map.weight.sizes()) + ", expected [" +
                std::to_string(d) + ", " + std::to_string(d) + "]");
  }
  if (map.bias.defined() && (map.bias.dim() != 1 || map.bias.size(0) != d)) {
    throw Error(where + "bias has shape " + shape_str(map.bias.sizes()) + ", expected [" +
                std::to_string(d) + "]");
  }
  const torch::Tensor w = map.weight.to(h.options());
  torch::Tensor y = torch::matmul(h, map.transposed ? w.t() : w);
  if (map.bias.defined()) y = y + map.bias.to(h.options());
  return y;
}

}  // namespace

void model_config_check(const ModelConfig& c) {
  const std::vector<std::string> problems = model_config_validate(c);
  if (problems.empty()) return;
  std::string message = "invalid model config:";
  for (const std::string& p : problems) message += "\n  " + p;
  throw Error(message);
}

DecoderImpl::DecoderImpl(const ModelConfig& cfg) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(cfg.vocab_size, cfg.d_model));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < cfg.n_layers; ++i) {
    blocks.push_back(Block(cfg));
    layers->push_back(blocks.back());
  }
  norm = register_module("norm", RMSNorm(cfg.d_model, cfg.norm_eps));
}

TransformerImpl::TransformerImpl(const ModelConfig& cfg) : cfg_(cfg) {
  model_config_check(cfg_);
  model = register_module("model", Decoder(cfg_));
  lm_head = register_module(
      "lm_head",
      torch::nn::Linear(torch::nn::LinearOptions(cfg_.d_model, cfg_.vocab_size).bias(false)));
  init_weights();
}

void TransformerImpl::init_weights() {
  torch::NoGradGuard no_grad;
  const double std = 0.02;
  const double out_std = cfg_.init == "scaled" ? std / std::sqrt(2.0 * cfg_.n_layers) : std;
  // Walk in module order so that a seed fixes every weight.
  for (auto& item : named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    if (ends_with(name, "layernorm.weight") || name == "model.norm.weight") {
      p.fill_(1.0);
    } else if (ends_with(name, "o_proj.weight") || ends_with(name, "down_proj.weight")) {
      p.normal_(0.0, out_std);
    } else {
      p.normal_(0.0, std);
    }
  }
}

double TransformerImpl::position_scale(int position) const {
  return cfg_.norm_scaling == "layernorm_scaling" ? 1.0 / std::sqrt(double(position) + 1.0) : 1.0;
}

ForwardOutput TransformerImpl::forward(const torch::Tensor& tokens, const LayerPlan& plan,
                                       const ProbeRequest& probes) {
  if (tokens.dim() != 2 || tokens.scalar_type() != torch::kInt64) {
    throw Error("Transformer::forward: tokens must be a (B, T) int64 tensor, got " +
                std::string(c10::toString(tokens.scalar_type())) + " of shape " +
                shape_str(tokens.sizes()));
  }
  return run(model->embed_tokens(tokens), /*start=*/0, plan, probes, /*targets=*/nullptr);
}

ForwardOutput TransformerImpl::forward_loss(const torch::Tensor& tokens,
                                            const torch::Tensor& targets, const LayerPlan& plan,
                                            const ProbeRequest& probes) {
  if (tokens.dim() != 2 || tokens.scalar_type() != torch::kInt64) {
    throw Error("Transformer::forward_loss: tokens must be a (B, T) int64 tensor, got " +
                std::string(c10::toString(tokens.scalar_type())) + " of shape " +
                shape_str(tokens.sizes()));
  }
  if (targets.sizes() != tokens.sizes() || targets.scalar_type() != torch::kInt64) {
    throw Error("Transformer::forward_loss: targets " + shape_str(targets.sizes()) +
                " must be int64 of the tokens' shape " + shape_str(tokens.sizes()));
  }
  return run(model->embed_tokens(tokens), /*start=*/0, plan, probes, &targets);
}

ForwardOutput TransformerImpl::forward_from(const torch::Tensor& h_start, int start,
                                            const LayerPlan& plan, const ProbeRequest& probes) {
  if (start < 0 || start > cfg_.n_layers) {
    throw Error("Transformer::forward_from: start = " + std::to_string(start) + ", allowed 0.." +
                std::to_string(cfg_.n_layers));
  }
  return run(h_start, start, plan, probes, /*targets=*/nullptr);
}

AttentionContext TransformerImpl::block_context(int64_t T,
                                                const torch::TensorOptions& options) const {
  return attention_context(cfg_, T, options, exec_);
}

ForwardOutput TransformerImpl::run(const torch::Tensor& h_start, int start, const LayerPlan& plan,
                                   const ProbeRequest& probes, const torch::Tensor* targets) {
  const int L = cfg_.n_layers;
  plan.check(L);
  if (h_start.dim() != 3 || h_start.size(2) != cfg_.d_model) {
    throw Error("Transformer: hidden state has shape " + shape_str(h_start.sizes()) +
                ", expected (B, T, " + std::to_string(cfg_.d_model) + ")");
  }
  const uint32_t mask = probes.mask;
  const bool fused = exec_.kernels == Kernels::Fused;
  const bool want_hidden = mask & (kProbeResidPre | kProbeResidPost);
  // Attention statistics: reduced in the fused kernel, or from the probabilities.
  const bool stats_in_kernel = (mask & kProbeAttnStats) && fused;
  const bool want_probs = (mask & kProbeAttnProbs) || ((mask & kProbeAttnStats) && !fused);
  auto keep = [&](const torch::Tensor& t) { return probes.detach && t.defined() ? t.detach() : t; };
  // The reference kernels' bf16: LibTorch's autocast for the matrix products.
  const AutocastBf16 autocast(!fused && exec_.precision == kernels::Precision::Bf16,
                              /*cuda=*/h_start.is_cuda());

  ForwardOutput out;
  if (want_hidden) out.hidden.resize(size_t(L) + 1);
  if (mask & kProbeAttnOut) out.attn_out.resize(size_t(L));
  if (mask & kProbeMlpOut) out.mlp_out.resize(size_t(L));
  if (want_probs) out.attn_probs.resize(size_t(L));
  if (stats_in_kernel) out.attn_stat_sums.resize(size_t(L));
  if (mask & kProbeRouterLogits) out.router_logits.resize(size_t(L));
  if (cfg_.is_moe()) out.moe.resize(size_t(L));

  AttentionContext ctx;  // built on the first position that runs a block
  torch::Tensor lb_sum, z_sum;
  int n_moe = 0;
  torch::Tensor h = h_start;
  if (want_hidden) out.hidden[size_t(start)] = keep(h);
  for (int i = start; i < L; ++i) {
    const PlanEntry::Kind kind = plan.at(i).kind;
    const bool runs_block = kind == PlanEntry::Kind::Block || kind == PlanEntry::Kind::Own;
    if (runs_block && !ctx.future.defined()) {
      ctx = block_context(h.size(1), h.options());
      ctx.want_probs = want_probs;
      if (stats_in_kernel) ctx.attn_stats_eps = probes.attn_stats_eps;
    }
    const BlockOutput b = position_step(plan, i, h, ctx);
    h = b.h_next;
    if (runs_block) {
      if (mask & kProbeAttnOut) out.attn_out[size_t(i)] = keep(b.attn_out);
      if (mask & kProbeMlpOut) out.mlp_out[size_t(i)] = keep(b.mlp_out);
      if (want_probs) out.attn_probs[size_t(i)] = keep(b.attn_probs);
      if (stats_in_kernel) out.attn_stat_sums[size_t(i)] = b.attn_stat_sums;
      if (b.moe.lb_loss.defined()) {
        if (mask & kProbeRouterLogits) out.router_logits[size_t(i)] = keep(b.router_logits);
        lb_sum = n_moe ? lb_sum + b.moe.lb_loss : b.moe.lb_loss;
        z_sum = n_moe ? z_sum + b.moe.z_loss : b.moe.z_loss;
        ++n_moe;
        out.moe[size_t(i)] =
            MoeLayerStats{keep(b.moe.expert_fraction), keep(b.moe.lb_loss), keep(b.moe.z_loss)};
      }
    }
    if (want_hidden) out.hidden[size_t(i) + 1] = keep(h);
  }

  const torch::Tensor normed = fused ? model->norm->forward_fused(h) : model->norm(h);
  if (mask & kProbeFinalNorm) out.final_norm = keep(normed);
  if (targets && fused) {
    out.loss = kernels::lm_head_loss(normed, lm_head->weight, *targets, exec_.precision);
  } else {
    out.logits =
        fused ? kernels::linear(normed, {lm_head->weight}, exec_.precision) : lm_head(normed);
    if (targets) out.loss = lm_loss(out.logits, *targets);
  }
  if (n_moe > 0) {
    out.aux_loss =
        (cfg_.moe.lb_loss_weight / n_moe) * lb_sum + (cfg_.moe.z_loss_weight / n_moe) * z_sum;
  } else {
    out.aux_loss = torch::zeros({}, h.options());
  }
  return out;
}

BlockOutput TransformerImpl::position_step(const LayerPlan& plan, int position,
                                           const torch::Tensor& h, const AttentionContext& ctx) {
  const PlanEntry& entry = plan.at(position);
  switch (entry.kind) {
    case PlanEntry::Kind::Skip: {
      BlockOutput skipped;
      skipped.h_next = h;  // h_{i+1} = h_i
      return skipped;
    }
    case PlanEntry::Kind::Linear: {
      BlockOutput mapped;
      mapped.h_next = linear_map_apply(*entry.linear, h, position);
      return mapped;
    }
    case PlanEntry::Kind::Block:
    case PlanEntry::Kind::Own:
      break;
  }
  const int block = entry.kind == PlanEntry::Kind::Block ? entry.block : position;
  return model->blocks[size_t(block)]->forward(h, position_scale(position), ctx);
}

torch::Tensor TransformerImpl::block_forward(int position, int block, const torch::Tensor& h) {
  const int L = cfg_.n_layers;
  if (position < 0 || position >= L || block < 0 || block >= L) {
    throw Error("Transformer::block_forward: position " + std::to_string(position) + " / block " +
                std::to_string(block) + " out of range 0.." + std::to_string(L - 1));
  }
  if (h.dim() != 3 || h.size(2) != cfg_.d_model) {
    throw Error("Transformer::block_forward: hidden state has shape " + shape_str(h.sizes()) +
                ", expected (B, T, " + std::to_string(cfg_.d_model) + ")");
  }
  const AttentionContext ctx = block_context(h.size(1), h.options());
  return model->blocks[size_t(block)]->forward(h, position_scale(position), ctx).h_next;
}

std::vector<std::pair<std::string, torch::Tensor>> TransformerImpl::state_dict_hf() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : named_parameters(/*recurse=*/true)) {
    out.emplace_back(item.key(), item.value());
  }
  return out;
}

void TransformerImpl::load_state_dict_hf(
    const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  auto params = named_parameters(/*recurse=*/true);
  std::map<std::string, const torch::Tensor*> given;
  std::vector<std::string> duplicate, unexpected, mismatched, missing;
  for (const auto& [name, t] : tensors) {
    if (!given.emplace(name, &t).second) duplicate.push_back(name);
    if (!params.contains(name)) unexpected.push_back(name);
  }
  for (const auto& item : params) {
    auto it = given.find(item.key());
    if (it == given.end()) {
      missing.push_back(item.key());
    } else if (!it->second->defined() || it->second->sizes() != item.value().sizes()) {
      mismatched.push_back(item.key() + " " +
                           (it->second->defined() ? shape_str(it->second->sizes()) : "undefined") +
                           " (model has " + shape_str(item.value().sizes()) + ")");
    }
  }
  if (!duplicate.empty() || !unexpected.empty() || !mismatched.empty() || !missing.empty()) {
    std::string msg = "state dict does not match the model";
    auto list = [&](const char* what, const std::vector<std::string>& names) {
      if (names.empty()) return;
      msg += std::string("; ") + what + " (" + std::to_string(names.size()) + "):";
      const size_t shown = std::min<size_t>(names.size(), 20);
      for (size_t i = 0; i < shown; ++i) msg += " " + names[i] + (i + 1 < shown ? "," : "");
      if (shown < names.size()) msg += " ...";
    };
    list("missing", missing);
    list("unexpected", unexpected);
    list("shape mismatch", mismatched);
    list("duplicate", duplicate);
    throw Error(msg);
  }
  torch::NoGradGuard no_grad;
  for (auto& item : params) item.value().copy_(*given.at(item.key()));
}

int64_t TransformerImpl::parameter_count(bool active_only) const {
  int64_t total = 0;
  for (const torch::Tensor& p : parameters(/*recurse=*/true)) total += p.numel();
  if (active_only && cfg_.is_moe()) {
    const int64_t d = cfg_.d_model;
    const int64_t d_expert = cfg_.moe.d_expert > 0 ? cfg_.moe.d_expert : cfg_.d_ff;
    const int64_t per_expert = 3 * d * d_expert;
    total -= int64_t(cfg_.n_layers) * (cfg_.moe.n_experts - cfg_.moe.top_k) * per_expert;
  }
  return total;
}

torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& targets) {
  if (logits.dim() != 3 || targets.dim() != 2 || logits.size(0) != targets.size(0) ||
      logits.size(1) != targets.size(1)) {
    throw Error("lm_loss: logits " + shape_str(logits.sizes()) + " and targets " +
                shape_str(targets.sizes()) + " must be (B, T, V) and (B, T)");
  }
  const int64_t V = logits.size(2);
  const torch::Tensor flat = logits.reshape({-1, V}).to(compute_dtype(logits.scalar_type()));
  return torch::nn::functional::cross_entropy(flat, targets.reshape({-1}));
}

}  // namespace dlab
