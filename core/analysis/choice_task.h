// Multiple-choice tasks in the lm-eval-harness convention: each item is a
// context and choices, each choice the exact text appended to the context, and
// the index of the right one. Read from JSONL in DepthLab's own layout or the
// HellaSwag and ARC layouts (docs/analysis.md, "Multiple-choice evaluation").
// Torch-free: parsing and the choice rule only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dlab {

struct ChoiceItem {
  std::string context;
  std::vector<std::string> choices;  // appended to the context as they are (mind the space)
  int label = 0;                     // index of the right choice
};

enum class ChoiceFormat {
  Auto,       // by the keys of each line
  Choices,    // {"context", "choices": [...], "label": int}
  HellaSwag,  // {"ctx", "endings": [...], "label": int or "int", "activity_label"?}
  Arc,        // {"question", "choices": {"text": [...], "label": [...]}, "answerKey"}
};
// "auto", "choices", "hellaswag", "arc"; dlab::Error naming the value otherwise.
ChoiceFormat choice_format_parse(const std::string& name);

// Limits on a task file, so a hostile one cannot exhaust memory.
inline constexpr size_t kChoiceLineMaxBytes = size_t(1) << 20;  // one JSONL line
inline constexpr size_t kChoiceMaxItems = 1000000;
inline constexpr size_t kChoiceMaxChoices = 64;

// Every item of the JSONL file (blank lines skipped). dlab::Error
// "FILE:LINE: <what is wrong>" for a line that is not a JSON object of the
// format, a label out of range, fewer than 2 choices or an empty choice.
//   HellaSwag: context = "<activity_label>: <ctx>" (ctx alone without a label),
//              choices = " " + each ending (the harness's layout, without its
//              text clean-up of bracketed markers).
//   ARC:       context = "Question: <question>\nAnswer:", choices = " " + each
//              text, label = the index of answerKey among choices.label.
std::vector<ChoiceItem> choice_task_read(const std::filesystem::path& file,
                                         ChoiceFormat format = ChoiceFormat::Auto);

// The predicted choices: by summed log-likelihood (acc), and by log-likelihood
// per byte of the choice's text (acc_norm). Ties go to the lower index.
struct ChoicePick {
  int by_ll = 0;
  int by_ll_per_byte = 0;
};
ChoicePick choice_pick(const std::vector<double>& ll, const std::vector<std::string>& choices);

}  // namespace dlab
