// What an analysis runs on: a model loaded from a checkpoint, and the token
// stream its evaluation set is cut from (the run's held-out split, another
// corpus encoded with the checkpoint's tokenizer, or an llm.c .bin shard).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/config.h"
#include "data/dataset.h"
#include "model/transformer.h"

namespace dlab {

struct AnalysisModel {
  Transformer model{nullptr};  // float32, CPU, eval mode, parameters without requires_grad
  Config config;               // the run's config as stored in the checkpoint
  int64_t step = 0;
  std::filesystem::path checkpoint;
  std::string tokenizer_kind;   // "byte" | "sentencepiece" | "none"
  std::string tokenizer_model;  // serialized model bytes ("" for byte)
};

// A checkpoint .h5 as is, or a run directory: its newest checkpoint. dlab::Error
// when the path does not exist or the run has no checkpoint.
std::filesystem::path analysis_checkpoint_resolve(const std::filesystem::path& target);

// Reads the checkpoint (content hash verified, no optimizer state) and builds the
// model. torch's global generator is left as it was (model construction draws
// from it; its state is saved and restored), so a training loop in the same
// process keeps its random stream.
AnalysisModel analysis_model_load(const std::filesystem::path& checkpoint);

struct EvalTokens {
  std::vector<uint16_t> tokens;
  std::string source;  // one line: what the tokens are
};

// The run's held-out split (data.val_fraction of the corpus in the checkpoint's
// config), tokenized with the checkpoint's own tokenizer: a SentencePiece model
// is written once to <cache_dir>/tokenizers/<xxh64>.model and used as
// data.tokenizer, so the tokens are exactly what the model was trained on even
// if the token cache of the run was deleted. Errors when the split is empty.
EvalTokens eval_tokens_heldout(const AnalysisModel& m, const DataProgress& progress = {});

// A whole corpus (a path, @demo or @synthetic; no split) encoded with the
// checkpoint's tokenizer. Checkpoints trained on token shards (tokenizer "none")
// cannot encode text: dlab::Error.
EvalTokens eval_tokens_corpus(const AnalysisModel& m, const std::string& corpus,
                              const DataProgress& progress = {});

// An llm.c token shard used as is; every token must be < vocab_size.
EvalTokens eval_tokens_shard(const std::filesystem::path& bin, int vocab_size);

// Where the analysis of `checkpoint` is stored: <run>/analysis/step-<N>.h5 when
// the checkpoint lives in <run>/checkpoints/, else <dir>/<stem>.analysis.h5.
std::filesystem::path analysis_path_for(const std::filesystem::path& checkpoint, int64_t step);

}  // namespace dlab
