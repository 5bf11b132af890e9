// Multiple-choice tasks (analysis/choice_task.h) and their scoring
// (analysis/choice_eval.h): the readers and their errors, the acc / acc_norm
// rule on a hand-computed case, and the batched scoring against a plain
// one-sequence reference.
#include "analysis/choice_eval.h"

#include <gtest/gtest.h>

#include <fstream>

#include "analysis/choice_task.h"
#include "analysis_test_util.h"
#include "common/error.h"
#include "error_of.h"

namespace dlab {
namespace {

namespace fs = std::filesystem;

fs::path task_file(const std::string& name, const std::string& text) {
  const fs::path p = test::test_tmp_dir("choice") / name;
  std::ofstream(p) << text;
  return p;
}

TEST(ChoiceTask, ReadsTheThreeLayouts) {
  const fs::path f = task_file(
      "mixed.jsonl",
      R"({"context": "2 + 2 =", "choices": [" 4", " 5"], "label": 0})"
      "\n\n"
      R"({"ctx": "A man sits down. He", "endings": ["reads.", "flies."], "label": "1", "activity_label": "Sitting"})"
      "\n"
      R"({"question": "Which is wet?", "choices": {"text": ["sand", "water"], "label": ["A", "B"]}, "answerKey": "B"})"
      "\n");
  const std::vector<ChoiceItem> items = choice_task_read(f);
  ASSERT_EQ(items.size(), 3u);  // the blank line is skipped
  EXPECT_EQ(items[0].context, "2 + 2 =");
  EXPECT_EQ(items[0].choices, (std::vector<std::string>{" 4", " 5"}));
  EXPECT_EQ(items[0].label, 0);
  EXPECT_EQ(items[1].context, "Sitting: A man sits down. He");
  EXPECT_EQ(items[1].choices, (std::vector<std::string>{" reads.", " flies."}));
  EXPECT_EQ(items[1].label, 1);
  EXPECT_EQ(items[2].context, "Question: Which is wet?\nAnswer:");
  EXPECT_EQ(items[2].choices, (std::vector<std::string>{" sand", " water"}));
  EXPECT_EQ(items[2].label, 1);
  // A forced layout that does not match the line.
  EXPECT_NE(test::error_of([&] {
              choice_task_read(f, ChoiceFormat::Arc);
            }).find("mixed.jsonl:1: question must be a string"),
            std::string::npos);
}

TEST(ChoiceTask, EveryBadLineIsRefusedNamingFileAndLine) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"context": "a", "choices": [" b"], "label": 0})",
       ":1: an item needs 2..64 choices, got 1"},
      {R"({"context": "a", "choices": [" b", ""], "label": 0})", ":1: a choice is empty"},
      {R"({"context": "a", "choices": [" b", " c"], "label": -1})",
       ":1: label -1 out of range; 0..1"},
      {R"({"context": "a", "choices": [" b", " c"], "label": 1.5})",
       ":1: label must be an integer"},
      {R"({"context": "a", "choices": [" b", 3], "label": 0})",
       ":1: choices must be an array of strings"},
      {R"({"question": "q", "choices": {"text": ["x", "y"], "label": ["A", "B"]}, "answerKey": "C"})",
       ":1: answerKey \"C\" is not one of choices.label"},
      {R"({"prompt": "a"})", ":1: cannot tell the layout"},
      {R"([1, 2])", ":1: not a JSON object"},
      {R"({"context": "a", "choices": [" b", " c"], "label": 0)", ":1: not a JSON object"},
      {std::string(20, '[') + std::string(20, ']'), "nest"},
  };
  for (const auto& [line, want] : cases) {
    const fs::path f = task_file("bad.jsonl", line + "\n");
    const std::string got = test::error_of([&] { choice_task_read(f); });
    EXPECT_NE(got.find(want), std::string::npos) << line << " -> " << got;
  }
  EXPECT_NE(
      test::error_of([&] { choice_task_read(task_file("empty.jsonl", "\n\n")); }).find("no items"),
      std::string::npos);
  // A line longer than the limit is refused before it is held whole.
  const fs::path huge = task_file("huge.jsonl", std::string(kChoiceLineMaxBytes + 10, 'x'));
  EXPECT_NE(test::error_of([&] { choice_task_read(huge); }).find("a line longer than"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { choice_format_parse("xml"); }).find("one of auto, choices"),
            std::string::npos);
}

// acc takes the largest summed log-likelihood, acc_norm the largest per byte:
// " no" (3 bytes) at -2.4 is -0.8 per byte, " certainly" (10 bytes) at -3.0 is
// -0.3 per byte.
TEST(ChoicePick, AccByTheSumAccNormByTheSumPerByte) {
  const std::vector<std::string> choices = {" certainly", " no", " maybe"};
  const ChoicePick p = choice_pick({-3.0, -2.4, -4.0}, choices);
  EXPECT_EQ(p.by_ll, 1);           // -2.4 is the largest sum
  EXPECT_EQ(p.by_ll_per_byte, 0);  // -0.3 / byte beats -0.8 and -0.667
  const ChoicePick tie = choice_pick({-1.0, -1.0}, {" ab", " cd"});
  EXPECT_EQ(tie.by_ll, 0);  // ties go to the lower index
  EXPECT_EQ(tie.by_ll_per_byte, 0);
}

// The batched, padded scoring equals a plain reference: each context + choice
// alone through the model, its log-softmax summed over the choice's tokens.
TEST(ChoiceEval, BatchedScoresEqualOneSequenceAtATime) {
  AnalysisModel m;
  ModelConfig mc = test::tiny_config(2);
  mc.vocab_size = 256;  // bytes
  m.model = test::tiny_model(mc, /*seed=*/11, /*gain=*/2.0);
  m.model->eval();
  m.config.model = mc;
  m.config.data.seq_len = 16;
  m.tokenizer_kind = "byte";
  const std::vector<ChoiceItem> items = {
      {"the cat", {" sat", " ran away", " is"}, 1},
      {"", {"hello", "hi"}, 0},                                           // empty context: from EOS
      {"a context longer than the window of sixteen", {" x", " yy"}, 0},  // cut on the left
  };
  const ChoiceEvalResult r = choice_eval(m, items);
  ASSERT_EQ(r.n, 3);
  EXPECT_EQ(r.truncated_items, 1);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < items.size(); ++i) {
    for (size_t c = 0; c < items[i].choices.size(); ++c) {
      const std::string& ctx = items[i].context;
      const std::string& ch = items[i].choices[c];
      std::vector<int64_t> ids;
      if (ctx.empty()) ids.push_back(0);  // the byte tokenizer's EOS
      for (unsigned char b : ctx + ch) ids.push_back(b);
      while (ids.size() > 17) ids.erase(ids.begin());
      const int64_t n = int64_t(ids.size());
      const torch::Tensor seq = torch::tensor(ids, torch::kInt64).unsqueeze(0);  // (1, n)
      const torch::Tensor logp = torch::log_softmax(
          m.model->forward(seq.slice(1, 0, n - 1)).logits.to(torch::kFloat64), -1);
      double want = 0;
      for (int64_t t = n - 1 - int64_t(ch.size()); t < n - 1; ++t)
        want += logp[0][t][ids[size_t(t + 1)]].item<double>();
      // float32 model: the padded batch rounds a little differently (~1e-8).
      EXPECT_NEAR(r.items[i].choices[c].ll, want, 1e-6 * std::abs(want) + 1e-6)
          << "item " << i << " choice " << c;
      EXPECT_EQ(r.items[i].choices[c].tokens, int64_t(ch.size()));
    }
  }
  // acc and acc_norm follow the picks.
  int right = 0, right_norm = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    std::vector<double> ll;
    for (const ChoiceScore& s : r.items[i].choices) ll.push_back(s.ll);
    const ChoicePick p = choice_pick(ll, items[i].choices);
    right += p.by_ll == items[i].label;
    right_norm += p.by_ll_per_byte == items[i].label;
  }
  EXPECT_DOUBLE_EQ(r.acc, right / 3.0);
  EXPECT_DOUBLE_EQ(r.acc_norm, right_norm / 3.0);
}

TEST(ChoiceEval, AModelWithoutATokenizerOrAChoiceTooLongIsRefused) {
  AnalysisModel m;
  ModelConfig mc = test::tiny_config(1);
  mc.vocab_size = 256;
  m.model = test::tiny_model(mc);
  m.config.model = mc;
  m.config.data.seq_len = 4;
  m.tokenizer_kind = "none";
  m.checkpoint = "shard.h5";
  EXPECT_NE(test::error_of([&] {
              choice_eval(m, {{"a", {" b", " c"}, 0}});
            }).find("no tokenizer"),
            std::string::npos);
  m.tokenizer_kind = "byte";
  EXPECT_NE(test::error_of([&] {
              choice_eval(m, {{"a", {" bcdefg", " c"}, 0}});
            }).find("item 1, choice 0: the choice is 7 tokens, more than the model's window of 4"),
            std::string::npos);
}

}  // namespace
}  // namespace dlab
