// Conversion between live training state (model, optimizer, RNG) and the
// self-contained checkpoint file of core/store.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "model/transformer.h"
#include "store/checkpoint_file.h"
#include "train/adamw.h"

namespace dlab {

struct TrainingState {
  int64_t step = 0;         // completed updates
  int64_t tokens_seen = 0;  // training tokens consumed so far (all ranks)
  std::string config_json;
  std::string tokenizer_kind;   // "byte" | "sentencepiece" | "none"
  std::string tokenizer_model;  // serialized tokenizer model (may be empty)
  std::string metadata_json;
};

std::filesystem::path checkpoint_path(const std::filesystem::path& run_dir, int64_t step);

// Writes run_dir/checkpoints/step-<N>.h5 atomically and returns its path.
std::filesystem::path checkpoint_save(const std::filesystem::path& run_dir,
                                      const TrainingState& state, Transformer& model,
                                      const AdamW& optimizer);

// Loads model weights (and the optimizer state when `optimizer` is non-null)
// and restores torch's default CPU generator. Returns the bookkeeping fields.
TrainingState checkpoint_restore(const std::filesystem::path& path, Transformer& model,
                                 AdamW* optimizer);

}  // namespace dlab
