// The DepthLab model (METRICS.md §1): a Llama-style Pre-LN decoder with
// RMSNorm, RoPE, grouped-query causal attention, SwiGLU or top-k MoE FFN,
// a final RMSNorm and an untied LM head, no biases. Module names reproduce the
// Hugging Face Llama state-dict names directly from named_parameters():
//   model.embed_tokens, model.layers.{i}.{input_layernorm, self_attn.{q,k,v,o}_proj,
//   post_attention_layernorm, mlp.*}, model.norm, lm_head.
// Training and every intervention go through forward(tokens, plan, probes).
#pragma once

#include <torch/torch.h>

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/config.h"
#include "model/block.h"
#include "model/exec_options.h"
#include "model/layer_plan.h"
#include "model/norm.h"
#include "model/probes.h"

namespace dlab {

// The "model" submodule: embeddings, the block stack and the final norm.
class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const ModelConfig& cfg);

  torch::nn::Embedding embed_tokens{nullptr};  // (V, d)
  torch::nn::ModuleList layers;                // L × Block
  RMSNorm norm{nullptr};                       // final RMSNorm_f
  std::vector<Block> blocks;                   // typed view of `layers`
};
TORCH_MODULE(Decoder);

class TransformerImpl : public torch::nn::Module {
 public:
  // Validates `cfg` (dlab::Error naming the field) and initialises the
  // weights from torch's global generator (callers seed it).
  explicit TransformerImpl(const ModelConfig& cfg);

  ForwardOutput forward(const torch::Tensor& tokens /* (B, T) int64 */, const LayerPlan& plan = {},
                        const ProbeRequest& probes = {});
  // forward() and the mean LM cross-entropy against targets (B, T) in `loss`
  // (the auxiliary loss stays separate). Under the fused kernels the logits are
  // never formed (kernels::lm_head_loss) and `logits` stays undefined.
  ForwardOutput forward_loss(const torch::Tensor& tokens, const torch::Tensor& targets,
                             const LayerPlan& plan = {}, const ProbeRequest& probes = {});
  // Runs positions [start, L) from a given h_start (B, T, d) = h_start of the
  // same plan; per-position outputs before `start` are left undefined.
  ForwardOutput forward_from(const torch::Tensor& h_start, int start, const LayerPlan& plan = {},
                             const ProbeRequest& probes = {});
  // One block's weights at one position (that position's s_i): h (B, T, d) -> (B, T, d).
  torch::Tensor block_forward(int position, int block, const torch::Tensor& h);
  // The one step a forward pass takes at `position` of `plan`: h_i (B, T, d)
  // -> h_{i+1} (B, T, d) in h_next, by the plan's entry there (identity, its
  // linear map, or a block with that position's s_i, whose other outputs come
  // along). Public so that analyses step through positions exactly as the
  // forward pass does. `ctx` (block_context()) is needed when the entry runs
  // a block; `plan` must have been checked against L.
  BlockOutput position_step(const LayerPlan& plan, int position, const torch::Tensor& h,
                            const AttentionContext& ctx);
  // What a block needs to run on sequences of length T as this model runs them.
  AttentionContext block_context(int64_t T, const torch::TensorOptions& options) const;

  // Kernels and precision (default: fused, fp32); a run-time choice, not part of
  // the checkpoint.
  void set_exec(const ExecOptions& exec) { exec_ = exec; }
  const ExecOptions& exec() const { return exec_; }

  const ModelConfig& config() const { return cfg_; }
  double position_scale(int position) const;  // s_i: 1, or 1/sqrt(i+1) under layernorm_scaling

  // Named parameters in module order under their HF names. The tensors alias
  // the parameters (no copy).
  std::vector<std::pair<std::string, torch::Tensor>> state_dict_hf();
  // Copies values into the parameters (converting dtype/device). Names and
  // shapes must match exactly; otherwise dlab::Error lists the missing,
  // unexpected and mismatched names and nothing is copied.
  void load_state_dict_hf(const std::vector<std::pair<std::string, torch::Tensor>>& tensors);
  // All parameters, or with active_only those a token uses: every MoE layer
  // counts top_k of its E experts (plus the shared expert).
  int64_t parameter_count(bool active_only = false) const;

  Decoder model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // (V, d), untied

 private:
  ForwardOutput run(const torch::Tensor& h_start, int start, const LayerPlan& plan,
                    const ProbeRequest& probes, const torch::Tensor* targets);
  void init_weights();

  ModelConfig cfg_;
  ExecOptions exec_;
};
TORCH_MODULE(Transformer);

// Building a Transformer draws its initial weights from LibTorch's global CPU
// generator. Whoever seeds that generator and builds a model (the trainer) or
// saves and restores its state around a build (analysis_model_load) holds this
// lock, so that runs and analyses sharing one process (dlab serve) never
// interleave their draws and every run stays reproducible.
std::mutex& model_init_mutex();

// Mean next-token cross-entropy; logits (B, T, V), targets (B, T) int64.
// Computed in float32 (or wider).
torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& targets);

// dlab::Error naming the field when a ModelConfig cannot build a model.
void model_config_check(const ModelConfig& cfg);

}  // namespace dlab
