// The evaluation set of the layer-effectiveness analyses (METRICS.md §3): N
// windows of T tokens, either the first N non-overlapping windows of a token
// stream (deterministic; data/batching.h batch_eval) or N windows at seeded
// random offsets (batch_eval_random). Each window holds T+1 tokens: inputs are
// the first T, targets the last T.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dlab {

enum class EvalWindows { First, Random };

struct EvalSetSpec {
  int samples = 64;  // N
  int seq_len = 0;   // T; 0 = the model's data.seq_len (filled in by the caller)
  EvalWindows windows = EvalWindows::First;
  uint64_t seed = 0;  // EvalWindows::Random only
};

struct EvalSet {
  torch::Tensor inputs;   // (N, T) int64
  torch::Tensor targets;  // (N, T) int64
  int samples = 0;
  int seq_len = 0;
  EvalWindows windows = EvalWindows::First;
  uint64_t seed = 0;
  std::string source;         // where the tokens came from (one line)
  int64_t source_tokens = 0;  // length of the token stream the windows were cut from

  // "64 x 128 tokens, first 64 windows of <source>" / "..., random windows (seed 7) of ..."
  std::string describe() const;
};

// Cuts the windows. Throws dlab::Error naming the option when N or T is not
// positive, the stream is shorter than T+1 tokens, or (First) the stream has
// fewer than N non-overlapping windows (the message says how many it has).
EvalSet eval_set_make(const std::vector<uint16_t>& tokens, const EvalSetSpec& spec,
                      const std::string& source);

// An evaluation set from given (N, T) int64 inputs/targets (tests, benchmarks).
EvalSet eval_set_from_tensors(const torch::Tensor& inputs, const torch::Tensor& targets,
                              const std::string& source);

}  // namespace dlab
