// Every validation case: overrides applied to a valid base config and the one
// message config_validate must then report. Shared by config_validate_test.cpp
// (the messages are exact) and docs_test.cpp (docs/config.md lists them all).
#pragma once

#include <string>
#include <vector>

#include "common/config.h"

namespace dlab::testing {

struct ValidationCase {
  std::vector<std::string> sets;  // --set assignments, applied in order
  std::string message;            // the single problem they cause
};

// Config{} is invalid only because neither train.steps nor train.tokens is set.
inline Config valid_base() {
  Config c;
  c.train.steps = 100;
  return c;
}

inline const std::vector<ValidationCase>& validation_cases() {
  static const std::vector<ValidationCase> cases = {
      // [run]
      {{"run.name="},
       "run.name= is empty; use a directory name of at most 100 printable characters without '/' "
       "or whitespace"},
      {{"run.name=a/b"},
       "run.name=a/b contains '/'; use a directory name of at most 100 printable characters "
       "without '/' or whitespace"},
      {{"run.name=my run"},
       "run.name=my run contains whitespace; use a directory name of at most 100 printable "
       "characters without '/' or whitespace"},
      {{"run.name=.."},
       "run.name=.. is not a directory name; use a directory name of at most 100 printable "
       "characters without '/' or whitespace"},
      {{"run.name=" + std::string(101, 'r')},
       "run.name=" + std::string(101, 'r') +
           " is 101 bytes long; use a directory name of at most 100 printable characters without "
           "'/' or whitespace"},
      {{"run.name=a\x1b[31mb"},
       "run.name=a\\x1b[31mb contains a control character; use a directory name of at most 100 "
       "printable characters without '/' or whitespace"},
      {{"run.name=abc\xe2\x80\xaetxt"},
       "run.name=abc\\xe2\\x80\\xaetxt contains a bidirectional control character; use a directory "
       "name of at most 100 printable characters without '/' or whitespace"},
      {{"run.name=\xff\xfe"},
       "run.name=\\xff\\xfe is not valid UTF-8; use a directory name of at most 100 printable "
       "characters without '/' or whitespace"},
      {{"run.dir="}, "run.dir= is empty; use a directory such as runs"},
      {{"run.dir=runs\x07"},
       "run.dir=runs\\x07 contains a control character; use a directory path of printable "
       "characters"},
      {{"run.device=gpu"},
       "run.device=gpu is not a device; use auto, cpu, cuda or cuda:N with N = 0, 1, ..."},
      {{"run.device=cuda:x"},
       "run.device=cuda:x is not a device; use auto, cpu, cuda or cuda:N with N = 0, 1, ..."},
      // [model] sizes
      {{"model.n_layers=0"}, "model.n_layers=0 is not positive; use 1 or more"},
      {{"model.n_layers=1000000"},
       "model.n_layers=1000000 exceeds the limit of 1024; use at most 1024"},
      {{"model.d_model=1048576"},
       "model.d_model=1048576 exceeds the limit of 65536; use at most 65536"},
      {{"model.d_ff=2000000"},
       "model.d_ff=2000000 exceeds the limit of 1048576; use at most 1048576"},
      {{"model.moe.n_experts=1000000"},
       "model.moe.n_experts=1000000 exceeds the limit of 1024; use at most 1024"},
      {{"model.d_model=-64"}, "model.d_model=-64 is not positive; use 1 or more"},
      {{"model.n_heads=0"}, "model.n_heads=0 is not positive; use 1 or more"},
      {{"model.n_kv_heads=0"}, "model.n_kv_heads=0 is not positive; use 1 or more"},
      {{"model.d_ff=0"}, "model.d_ff=0 is not positive; use 1 or more"},
      {{"data.tokenizer=/models/sp.model", "model.vocab_size=0"},
       "model.vocab_size=0 is not positive; use 1 or more"},
      // [model] heads
      {{"model.d_model=100", "model.n_heads=3", "model.n_kv_heads=3"},
       "model.d_model=100 is not divisible by model.n_heads=3; the head size d_model / n_heads "
       "must be a whole number"},
      {{"model.d_model=36"},
       "model.d_model=36 with model.n_heads=4 gives an odd head size 9; RoPE needs an even head "
       "size d_model / n_heads"},
      {{"model.d_model=96", "model.n_heads=12", "model.n_kv_heads=5"},
       "model.n_heads=12 is not divisible by model.n_kv_heads=5; use a divisor of n_heads for "
       "n_kv_heads: 1, 2, 3, 4, 6, 12"},
      {{"model.n_kv_heads=8"},
       "model.n_kv_heads=8 exceeds model.n_heads=4; use a divisor of n_heads: 1, 2, 4"},
      // [model] numbers and choices
      {{"model.norm_eps=0"},
       "model.norm_eps=0 is not a finite positive number; use a small positive value such as "
       "1e-6"},
      {{"model.rope_theta=-1"},
       "model.rope_theta=-1 is not a finite positive number; use a positive base such as 10000"},
      {{"model.norm_scaling=deepnorm"},
       "model.norm_scaling=deepnorm is not allowed; use none or layernorm_scaling"},
      {{"model.init=xavier"}, "model.init=xavier is not allowed; use normal or scaled"},
      // [model.moe]
      {{"model.moe.n_experts=-1"},
       "model.moe.n_experts=-1 is negative; use 0 (dense FFN) or the number of experts"},
      {{"model.moe.n_experts=8", "model.moe.top_k=9"},
       "model.moe.top_k=9 exceeds model.moe.n_experts=8; use 1 to 8"},
      {{"model.moe.n_experts=8", "model.moe.top_k=0"},
       "model.moe.top_k=0 is less than 1; use 1 to model.moe.n_experts=8"},
      {{"model.moe.d_expert=-1"},
       "model.moe.d_expert=-1 is negative; use 0 (= model.d_ff) or a positive size"},
      {{"model.moe.n_shared_experts=2"},
       "model.moe.n_shared_experts=2 is not supported; use 0 or 1"},
      {{"model.moe.lb_loss_weight=-0.01"},
       "model.moe.lb_loss_weight=-0.01 is not a finite non-negative number; use 0 (off) or more"},
      {{"model.moe.z_loss_weight=nan"},
       "model.moe.z_loss_weight=nan is not a finite non-negative number; use 0 (off) or more"},
      // [data]
      {{"data.corpus="},
       "data.corpus= is empty; use @synthetic, @demo or a file or directory path"},
      {{"data.corpus=@wiki"},
       "data.corpus=@wiki is not a known alias; use @synthetic, @demo or a file or directory path"},
      {{"data.tokenizer="},
       "data.tokenizer= is empty; use byte, bpe or the path of a SentencePiece .model file"},
      {{"model.vocab_size=1000"}, "data.tokenizer=byte needs model.vocab_size=256, got 1000"},
      {{"data.tokenizer=bpe"},
       "data.tokenizer=bpe needs model.vocab_size between 300 and 65536 (token ids are stored "
       "as uint16), got 256"},
      {{"data.tokenizer=bpe", "model.vocab_size=65537"},
       "data.tokenizer=bpe needs model.vocab_size between 300 and 65536 (token ids are stored "
       "as uint16), got 65537"},
      {{"data.tokenizer=/models/sp.model", "model.vocab_size=100000"},
       "model.vocab_size=100000 exceeds 65536; token ids are stored as uint16"},
      {{"data.seq_len=0"}, "data.seq_len=0 is not positive; use 1 or more"},
      {{"data.val_fraction=0"},
       "data.val_fraction=0 is outside (0, 0.5]; hold out a fraction such as 0.05"},
      {{"data.val_fraction=0.6"},
       "data.val_fraction=0.6 is outside (0, 0.5]; hold out a fraction such as 0.05"},
      // [train] budget
      {{"train.batch_size=0"}, "train.batch_size=0 is not positive; use 1 or more"},
      {{"train.steps=0"},
       "train.steps=0 and train.tokens=0 are both zero; set exactly one of them > 0 (the steps "
       "to run, or a token budget)"},
      {{"train.tokens=1000000"},
       "train.steps=100 and train.tokens=1000000 are both set; set exactly one of them and the "
       "other to 0"},
      {{"train.steps=-5"},
       "train.steps=-5 is negative; use 0 (when train.tokens is set) or a number of steps"},
      {{"train.tokens=-1"},
       "train.tokens=-1 is negative; use 0 (when train.steps is set) or a token budget"},
      {{"train.warmup_steps=101"},
       "train.warmup_steps=101 exceeds the 100 training steps; use 0 to 100"},
      {{"train.steps=0", "train.tokens=10000", "train.warmup_steps=30"},
       "train.warmup_steps=30 exceeds the 20 training steps; use 0 to 20"},
      {{"train.warmup_steps=-1"}, "train.warmup_steps=-1 is negative; use 0 or more"},
      // [train] optimiser
      {{"train.lr=nan"},
       "train.lr=nan is not a finite positive number; use a peak learning rate such as 3e-3"},
      {{"train.lr=0"},
       "train.lr=0 is not a finite positive number; use a peak learning rate such as 3e-3"},
      {{"train.lr=inf"},
       "train.lr=inf is not a finite positive number; use a peak learning rate such as 3e-3"},
      {{"train.min_lr_ratio=1.5"},
       "train.min_lr_ratio=1.5 is outside [0, 1]; the cosine floor is a fraction of train.lr"},
      {{"train.weight_decay=-0.1"},
       "train.weight_decay=-0.1 is not a finite non-negative number; use 0 (off) or more"},
      {{"train.beta1=1"}, "train.beta1=1 is outside [0, 1); use a decay rate such as 0.9"},
      {{"train.beta2=-0.5"}, "train.beta2=-0.5 is outside [0, 1); use a decay rate such as 0.95"},
      {{"train.adam_eps=0"},
       "train.adam_eps=0 is not a finite positive number; use a small positive value such as "
       "1e-8"},
      {{"train.grad_clip=-1"},
       "train.grad_clip=-1 is not a finite non-negative number; use 0 (off) or a positive norm "
       "such as 1"},
      // [train] schedule of evaluations, statistics and checkpoints
      {{"train.eval_every=0"}, "train.eval_every=0 is not positive; use 1 or more"},
      {{"train.eval_batches=0"}, "train.eval_batches=0 is not positive; use 1 or more"},
      {{"train.stats_every=0"}, "train.stats_every=0 is not positive; use 1 or more"},
      {{"train.attn_stats_every=0"}, "train.attn_stats_every=0 is not positive; use 1 or more"},
      {{"train.checkpoint_every=-1"},
       "train.checkpoint_every=-1 is negative; use 0 (only the last step) or a number of steps"},
      {{"train.threads=-1"},
       "train.threads=-1 is negative; use 0 (one per core) or a thread count"},
      {{"train.kernels=fast"}, "train.kernels=fast is not allowed; use auto, fused or reference"},
      {{"train.precision=fp16"}, "train.precision=fp16 is not allowed; use fp32 or bf16"},
  };
  return cases;
}

}  // namespace dlab::testing
