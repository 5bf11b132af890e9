// The experiment configuration: one plain struct per TOML section.
//
// The struct is the single source of truth for field values; `config_schema()`
// (config_schema.h) describes every field (key, type, default, doc, allowed
// values) so that parsing, validation, `--set` overrides, sweeps, JSON
// round-trips and the GUI's generated form all walk the same table.
#pragma once

#include <cstdint>
#include <string>

namespace dlab {

struct RunConfig {
  std::string name = "run";     // run.name: directory name under run.dir
  std::string dir = "runs";     // run.dir: parent directory of runs
  std::string device = "auto";  // run.device: auto | cpu | cuda | cuda:N (model/device.h)
};

struct MoeConfig {
  int n_experts = 0;             // model.moe.n_experts: 0 = dense SwiGLU FFN
  int top_k = 2;                 // model.moe.top_k
  int d_expert = 0;              // model.moe.d_expert: expert hidden size; 0 = model.d_ff
  int n_shared_experts = 0;      // model.moe.n_shared_experts: 0 or 1
  double lb_loss_weight = 0.01;  // model.moe.lb_loss_weight
  double z_loss_weight = 0.001;  // model.moe.z_loss_weight
};

struct ModelConfig {
  int n_layers = 4;                   // model.n_layers (L)
  int d_model = 64;                   // model.d_model (d)
  int n_heads = 4;                    // model.n_heads (H)
  int n_kv_heads = 4;                 // model.n_kv_heads (G); H % G == 0
  int d_ff = 176;                     // model.d_ff: SwiGLU hidden size
  int vocab_size = 256;               // model.vocab_size (V)
  double norm_eps = 1e-6;             // model.norm_eps
  double rope_theta = 10000.0;        // model.rope_theta
  std::string norm_scaling = "none";  // none | layernorm_scaling
  std::string init = "normal";        // normal | scaled
  MoeConfig moe;

  int head_dim() const { return d_model / n_heads; }
  bool is_moe() const { return moe.n_experts > 0; }
};

struct DataConfig {
  // A path (.txt file, directory of .txt, .jsonl with a "text" field, llm.c
  // .bin shard or a directory of shards) or an alias: "@synthetic" (generated,
  // no download) or "@demo" (the nlp-corpus cache made by packaging/setup.sh).
  std::string corpus = "@synthetic";
  std::string tokenizer = "byte";  // bpe | byte | path to a SentencePiece .model
  int seq_len = 64;                // data.seq_len (T)
  double val_fraction = 0.05;      // data.val_fraction: held-out tail of the tokens
  std::string cache_dir = "";      // data.cache_dir: "" = $XDG_CACHE_HOME/depthlab
};

struct TrainConfig {
  int batch_size = 8;              // train.batch_size: sequences per step (global)
  int64_t steps = 0;               // train.steps: exactly one of steps / tokens > 0
  int64_t tokens = 0;              // train.tokens: steps = ceil(tokens / (B*T))
  double lr = 3e-3;                // train.lr: peak learning rate
  int64_t warmup_steps = 10;       // train.warmup_steps
  double min_lr_ratio = 0.1;       // train.min_lr_ratio: cosine floor / peak
  double weight_decay = 0.1;       // train.weight_decay (lambda)
  double beta1 = 0.9;              // train.beta1
  double beta2 = 0.95;             // train.beta2
  double adam_eps = 1e-8;          // train.adam_eps
  double grad_clip = 1.0;          // train.grad_clip: global norm; 0 = off
  uint64_t seed = 1234;            // train.seed
  int64_t eval_every = 50;         // train.eval_every: steps between evaluations
  int64_t eval_batches = 4;        // train.eval_batches: batches per evaluation
  int64_t checkpoint_every = 0;    // train.checkpoint_every: 0 = only the last step
  int64_t stats_every = 1;         // train.stats_every: residual/kurtosis stats
  int64_t attn_stats_every = 10;   // train.attn_stats_every: attention + weight sparsity
  int threads = 0;                 // train.threads: intra-op threads; 0 = one per physical core
  std::string kernels = "auto";    // train.kernels: auto | fused | reference
  std::string precision = "fp32";  // train.precision: fp32 | bf16 (of the matrix products)

  // Number of optimisation steps implied by steps/tokens for a given B*T
  // (0 when B*T is not positive; never overflows).
  int64_t total_steps(int seq_len) const {
    if (steps > 0) return steps;
    const int64_t per_step = int64_t(batch_size) * seq_len;
    if (per_step <= 0 || tokens <= 0) return 0;
    return tokens / per_step + (tokens % per_step != 0 ? 1 : 0);
  }
};

struct Config {
  RunConfig run;
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
};

}  // namespace dlab
