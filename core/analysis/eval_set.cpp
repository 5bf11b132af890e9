#include "analysis/eval_set.h"

#include "common/error.h"
#include "data/batching.h"

namespace dlab {

std::string EvalSet::describe() const {
  std::string out = std::to_string(samples) + " x " + std::to_string(seq_len) + " tokens, ";
  out += windows == EvalWindows::First ? "first " + std::to_string(samples) + " windows"
                                       : "random windows (seed " + std::to_string(seed) + ")";
  return out + " of " + source;
}

EvalSet eval_set_make(const std::vector<uint16_t>& tokens, const EvalSetSpec& spec,
                      const std::string& source) {
  if (spec.samples < 1) {
    throw Error("--samples " + std::to_string(spec.samples) +
                ": the evaluation set needs at least 1 window");
  }
  if (spec.seq_len < 1) {
    throw Error("--seq-len " + std::to_string(spec.seq_len) + ": must be at least 1");
  }
  if (int64_t(tokens.size()) < int64_t(spec.seq_len) + 1) {
    throw Error("--seq-len " + std::to_string(spec.seq_len) + ": the token source (" + source +
                ") has " + std::to_string(tokens.size()) + " tokens; a window needs " +
                std::to_string(spec.seq_len + 1));
  }
  Batch b;
  if (spec.windows == EvalWindows::First) {
    const int64_t count = eval_window_count(tokens.size(), spec.seq_len);
    if (spec.samples > count) {
      throw Error("--samples " + std::to_string(spec.samples) + ": the token source (" + source +
                  ", " + std::to_string(tokens.size()) + " tokens) has only " +
                  std::to_string(count) + " non-overlapping windows of " +
                  std::to_string(spec.seq_len) + " tokens; ask for at most " +
                  std::to_string(count) + ", a shorter --seq-len, or random windows (--seed S)");
    }
    b = batch_eval(tokens, /*first_window=*/0, spec.samples, spec.seq_len);
  } else {
    b = batch_eval_random(tokens, /*index=*/0, spec.samples, spec.seq_len, spec.seed);
  }
  EvalSet set;
  set.inputs = b.inputs;
  set.targets = b.targets;
  set.samples = spec.samples;
  set.seq_len = spec.seq_len;
  set.windows = spec.windows;
  set.seed = spec.seed;
  set.source = source;
  set.source_tokens = int64_t(tokens.size());
  return set;
}

EvalSet eval_set_from_tensors(const torch::Tensor& inputs, const torch::Tensor& targets,
                              const std::string& source) {
  if (inputs.dim() != 2 || targets.sizes() != inputs.sizes() ||
      inputs.scalar_type() != torch::kInt64 || targets.scalar_type() != torch::kInt64 ||
      inputs.size(0) < 1 || inputs.size(1) < 1) {
    throw Error(
        "evaluation set: inputs and targets must be non-empty (N, T) int64 tensors of the same "
        "shape");
  }
  EvalSet set;
  set.inputs = inputs.contiguous();
  set.targets = targets.contiguous();
  set.samples = int(inputs.size(0));
  set.seq_len = int(inputs.size(1));
  set.source = source;
  set.source_tokens = inputs.numel();
  return set;
}

}  // namespace dlab
