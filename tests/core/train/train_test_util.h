// A tiny, fast configuration for trainer tests (seconds on 2 cores).
#pragma once

#include <filesystem>
#include <string>

#include "common/config.h"
#include "test_dir.h"

namespace dlab::testing {

inline std::filesystem::path fresh_dir(const std::string& name) {
  return dlab::test::test_dir_fresh("train", name);
}

inline Config tiny_config(const std::filesystem::path& dir, int steps) {
  Config c;
  c.run.name = "t";
  c.run.dir = dir.string();
  c.model.n_layers = 2;
  c.model.d_model = 32;
  c.model.n_heads = 4;
  c.model.n_kv_heads = 2;
  c.model.d_ff = 64;
  c.model.vocab_size = 256;
  c.data.corpus = "@synthetic";
  c.data.tokenizer = "byte";
  c.data.seq_len = 32;
  c.data.cache_dir = (dir / "cache").string();
  c.train.batch_size = 4;
  c.train.steps = steps;
  c.train.warmup_steps = 3;
  c.train.lr = 3e-3;
  c.train.eval_every = 5;
  c.train.eval_batches = 2;
  c.train.checkpoint_every = 0;
  c.train.stats_every = 1;
  c.train.attn_stats_every = 3;
  c.train.threads = 1;  // bit-exact comparisons need a fixed thread count
  return c;
}

}  // namespace dlab::testing
