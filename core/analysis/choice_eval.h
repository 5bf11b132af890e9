// Multiple-choice evaluation of a checkpoint (lm-eval-harness convention):
// each choice's log-likelihood given the context, summed over its tokens;
// acc from the largest sum, acc_norm from the largest sum per byte of the
// choice's text (docs/analysis.md, "Multiple-choice evaluation").
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "analysis/choice_task.h"
#include "analysis/source.h"

namespace dlab {

struct ChoiceScore {
  double ll = 0;          // sum of log p(token | everything before it) over the choice's tokens
  int64_t tokens = 0;     // the choice's tokens
  int64_t truncated = 0;  // context tokens dropped on the left to fit data.seq_len
};

struct ChoiceItemResult {
  std::vector<ChoiceScore> choices;
  int label = 0;
  ChoicePick pick;
};

struct ChoiceEvalResult {
  double acc = 0, acc_norm = 0;
  int64_t n = 0;
  int64_t truncated_items = 0;  // items whose context was cut to fit the model's window
  std::vector<ChoiceItemResult> items;
};

// Scores every item with the checkpoint's model and tokenizer. The tokens of a
// choice are those of encode(context + choice) after encode(context) (so a
// tokenizer that merges across the boundary is handled as the harness does);
// an empty context starts from the end-of-text token. Sequences longer than
// the model's window (data.seq_len + 1 tokens) lose context tokens on the
// left. `progress(done, total)` is called after each item; a set *stop ends
// the evaluation early (dlab::Error "stopped"). dlab::Error when the
// checkpoint has no tokenizer, or a choice has no tokens of its own.
ChoiceEvalResult choice_eval(const AnalysisModel& m, const std::vector<ChoiceItem>& items,
                             const std::function<void(int64_t, int64_t)>& progress = {},
                             const std::atomic<bool>* stop = nullptr);

}  // namespace dlab
