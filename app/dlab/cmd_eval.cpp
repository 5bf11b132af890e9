// dlab eval: multiple-choice accuracy of a checkpoint on a task the user
// brings (lm-eval-harness convention, docs/analysis.md "Multiple-choice
// evaluation"): acc and acc_norm, optionally every item's log-likelihoods.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "analysis/choice_eval.h"
#include "analysis/choice_task.h"
#include "analysis/source.h"
#include "commands.h"
#include "common/error.h"
#include "json_output.h"
#include "kernels/threads.h"
#include "progress_line.h"

namespace dlab::cli {
namespace {

struct EvalArgs {
  std::string target;
  std::string task;
  std::string format = "auto";
  std::string json;
  int64_t limit = 0;
  int threads = 0;
  bool quiet = false;
};

nlohmann::json result_json(const ChoiceEvalResult& r, const std::vector<ChoiceItem>& items,
                           const AnalysisModel& m, const EvalArgs& a) {
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i < r.items.size(); ++i) {
    const ChoiceItemResult& it = r.items[i];
    nlohmann::json ll = nlohmann::json::array(), tokens = nlohmann::json::array(),
                   bytes = nlohmann::json::array();
    for (size_t c = 0; c < it.choices.size(); ++c) {
      ll.push_back(it.choices[c].ll);
      tokens.push_back(it.choices[c].tokens);
      bytes.push_back(items[i].choices[c].size());
    }
    list.push_back({{"label", it.label},
                    {"pred", it.pick.by_ll},
                    {"pred_norm", it.pick.by_ll_per_byte},
                    {"ll", ll},
                    {"tokens", tokens},
                    {"bytes", bytes}});
  }
  return {{"task", a.task},
          {"checkpoint", m.checkpoint.string()},
          {"step", m.step},
          {"acc", r.acc},
          {"acc_norm", r.acc_norm},
          {"n", r.n},
          {"truncated_items", r.truncated_items},
          {"items", list}};
}

int eval_main(const EvalArgs& a) {
  const ChoiceFormat format = choice_format_parse(a.format);
  if (a.limit < 0) throw Error("--limit " + std::to_string(a.limit) + ": must be >= 0");
  if (a.threads < 0) throw Error("--threads " + std::to_string(a.threads) + ": must be >= 0");
  kernels::threads_set(a.threads);
  std::vector<ChoiceItem> items = choice_task_read(a.task, format);  // its errors before the load
  if (a.limit > 0 && int64_t(items.size()) > a.limit) items.resize(size_t(a.limit));
  ProgressLine line(a.quiet);
  const std::filesystem::path checkpoint = analysis_checkpoint_resolve(a.target);
  line.update(0.0, "loading " + checkpoint.string(), /*force=*/true);
  const AnalysisModel m = analysis_model_load(checkpoint);
  const ChoiceEvalResult r = choice_eval(m, items, [&](int64_t done, int64_t total) {
    line.update(double(done) / double(total),
                std::to_string(done) + " / " + std::to_string(total) + " items",
                /*force=*/done == total);
  });
  line.finish("evaluated " + std::to_string(r.n) + " items of " + a.task);
  if (!a.json.empty() && json_output_write(a.json, result_json(r, items, m, a).dump(2) + "\n"))
    return 0;
  std::printf("task        %s (%lld items)\n", a.task.c_str(), static_cast<long long>(r.n));
  std::printf("checkpoint  %s (step %lld)\n", checkpoint.string().c_str(),
              static_cast<long long>(m.step));
  std::printf("acc         %.4f\nacc_norm    %.4f\n", r.acc, r.acc_norm);
  if (r.truncated_items > 0) {
    std::printf(
        "note: %lld items were longer than the model's window (data.seq_len = %d); their "
        "contexts lost tokens on the left\n",
        static_cast<long long>(r.truncated_items), m.config.data.seq_len);
  }
  return 0;
}

}  // namespace

Command command_eval_register(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  app.description(
      "Multiple-choice accuracy of a checkpoint, as lm-eval-harness computes it: for each item,\n"
      "the log-likelihood of every choice given the context (summed over the choice's tokens);\n"
      "acc counts the items whose largest is the right one, acc_norm the same per byte of the\n"
      "choice's text. Items are JSONL, one per line, in one of these layouts:\n"
      "  choices    {\"context\": \"...\", \"choices\": [\" a\", \" b\"], \"label\": 0}\n"
      "  hellaswag  {\"ctx\": \"...\", \"endings\": [...], \"label\": 0, \"activity_label\": "
      "\"...\"}\n"
      "  arc        {\"question\": \"...\", \"choices\": {\"text\": [...], \"label\": [\"A\", "
      "...]},\n"
      "              \"answerKey\": \"A\"}\n"
      "Nothing is downloaded: bring the files (docs/analysis.md).\n"
      "Examples:\n"
      "  dlab eval runs/demo --task hellaswag_val.jsonl\n"
      "  dlab eval runs/demo/checkpoints/step-400.h5 --task arc_easy.jsonl --json arc.json");
  app.add_option("target", a->target,
                 "a checkpoint .h5, or a run directory (its newest checkpoint)")
      ->required();
  app.add_option("--task", a->task, "the task's JSONL file")->required();
  app.add_option("--format", a->format,
                 "auto, choices, hellaswag or arc (auto: by each line's keys)")
      ->capture_default_str();
  app.add_option("--limit", a->limit, "only the first N items (0: all)")->capture_default_str();
  app.add_option("--json", a->json,
                 "also write acc, acc_norm, n and every item's choices (ll, tokens, bytes) as "
                 "JSON to this file ('-': stdout only)");
  app.add_option("--threads", a->threads, "intra-op threads (default: one per physical core)");
  app.add_flag("-q,--quiet", a->quiet, "no progress line");
  return [a] { return eval_main(*a); };
}

}  // namespace dlab::cli
