// dlab analyze: the layer-effectiveness analyses of a checkpoint (METRICS.md §3,
// docs/analysis.md), stored next to the run and optionally written as JSON.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "analysis/analyzer.h"
#include "analysis/jobs.h"
#include "analysis/source.h"
#include "commands.h"
#include "common/error.h"
#include "json_output.h"
#include "kernels/threads.h"
#include "progress_line.h"
#include "store/analysis_file.h"

namespace dlab::cli {
namespace {

struct AnalyzeArgs {
  std::string target;
  std::string what = "all";
  int samples = 64;
  int seq_len = 0;
  uint64_t seed = 0;
  int first = 0;
  std::string tokens;
  std::string corpus;
  double tau = 0.1;
  bool transpose_quirk = false;
  bool heldout_fit = false;
  int jacobian_samples = 4;
  std::string token_jacobian;
  int batch = 8;
  double cache_mb = 2048;
  int threads = 0;
  std::string json;
  bool no_store = false;
  bool quiet = false;
  // Which options were given (CLI11 fills these after parsing).
  CLI::Option* samples_opt = nullptr;
  CLI::Option* seed_opt = nullptr;
  CLI::Option* first_opt = nullptr;
};

AnalysisRequest request_from(const AnalyzeArgs& a) {
  std::vector<std::string> names;  // comma-separated, blanks around each ignored
  std::stringstream list(a.what);
  std::string item;
  while (std::getline(list, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    names.push_back(item);
  }
  AnalysisRequest r = analysis_request_for(names, "--what '" + a.what + "'");
  if (!std::isfinite(a.tau) || a.tau < 0) {
    char tau[32];
    std::snprintf(tau, sizeof(tau), "%g", a.tau);
    throw Error(std::string("--tau ") + tau + ": must be a finite number >= 0");
  }
  r.usefulness_options.tau = a.tau;
  r.usefulness_options.transpose_quirk = a.transpose_quirk;
  r.usefulness_options.heldout_fit = a.heldout_fit;
  r.jacobian_samples = a.jacobian_samples;
  if (!a.token_jacobian.empty()) {
    int seq = -1, pos = -1;
    char extra = 0;
    if (std::sscanf(a.token_jacobian.c_str(), "%d,%d%c", &seq, &pos, &extra) != 2) {
      throw Error("--token-jacobian '" + a.token_jacobian +
                  "': expected SEQUENCE,TOKEN (e.g. 0,17: token 17 of the first window)");
    }
    r.token_sequence = seq;
    r.token_position = pos;
  }
  return r;
}

EvalSetSpec spec_from(const AnalyzeArgs& a, int model_seq_len) {
  EvalSetSpec s;
  const bool has_seed = a.seed_opt->count() > 0;
  const bool has_first = a.first_opt->count() > 0;
  const bool has_samples = a.samples_opt->count() > 0;
  if (has_seed && has_first) {
    throw Error("--first " + std::to_string(a.first) + " and --seed " + std::to_string(a.seed) +
                " exclude each other: --first N takes the first N windows, --seed S random ones");
  }
  if (has_first && has_samples && a.first != a.samples) {
    throw Error("--first " + std::to_string(a.first) + " and --samples " +
                std::to_string(a.samples) + " disagree; --first N already sets N");
  }
  s.samples = has_first ? a.first : a.samples;
  if (s.samples < 1) {
    throw Error(std::string(has_first ? "--first " : "--samples ") + std::to_string(s.samples) +
                ": the evaluation set needs at least 1 window");
  }
  if (a.seq_len < 0) throw Error("--seq-len " + std::to_string(a.seq_len) + ": must be >= 1");
  s.seq_len = a.seq_len > 0 ? a.seq_len : model_seq_len;
  s.windows = has_seed ? EvalWindows::Random : EvalWindows::First;
  s.seed = a.seed;
  return s;
}

std::string num(double v, const char* f = "%.4g") {
  char buf[48];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

void print_matrix(const std::string& title, const Matrix& m) {
  std::printf("\n%s\n   s\\l", title.c_str());
  for (size_t j = 0; j < m.size(); ++j) std::printf(" %7zu", j);
  std::printf("\n");
  for (size_t i = 0; i < m.size(); ++i) {
    std::printf("%6zu", i);
    for (size_t j = 0; j < m[i].size(); ++j) {
      if (j <= i) {
        std::printf(" %7s", ".");
      } else {
        std::printf(" %7.4f", m[i][j]);
      }
    }
    std::printf("\n");
  }
}

void print_summary(const AnalysisResult& r, const std::filesystem::path& stored) {
  std::printf("# analysis of %s (step %lld): L=%d, d=%d\n", r.checkpoint.c_str(),
              static_cast<long long>(r.step), r.n_layers, r.d_model);
  std::printf("# evaluation set: %d x %d tokens, %s of %s\n", r.eval.samples, r.eval.seq_len,
              r.eval.windows == EvalWindows::First
                  ? ("first " + std::to_string(r.eval.samples) + " windows").c_str()
                  : ("random windows, seed " + std::to_string(r.eval.seed)).c_str(),
              r.eval.source.c_str());
  std::printf("loss %.4f", r.loss);
  if (r.causal) std::printf("   causal score %.4f", r.causal->score);
  if (r.permutation) std::printf("   permutation score %.4f", r.permutation->score);
  if (r.usefulness) {
    std::printf("   useful layers %d/%d (score %.3f, tau %g%s%s)", r.usefulness->useful_layers,
                r.n_layers, r.usefulness->score, r.usefulness->options.tau,
                r.usefulness->options.transpose_quirk ? ", transposed" : "",
                r.usefulness->options.heldout_fit ? ", held-out fit" : "");
  }
  std::printf("\n\n%5s %8s %8s %10s %10s %9s %6s %8s %8s %8s\n", "layer", "BI", "angle",
              "lens_loss", "resid_var", "lin_ratio", "useful", "J_dev", "J_offd", "J_spec");
  for (int l = 0; l <= r.n_layers; ++l) {
    const size_t i = size_t(l);
    const bool block = l < r.n_layers;
    auto cell = [](bool ok, double v, const char* f) { return ok ? num(v, f) : std::string("-"); };
    const bool s = r.summaries.has_value(), u = r.usefulness.has_value() && block,
               j = r.jacobian.has_value() && block;
    std::printf(
        "%5d %8s %8s %10s %10s %9s %6s %8s %8s %8s\n", l,
        cell(s && block, s && block ? r.summaries->block_influence[i] : 0, "%.4f").c_str(),
        cell(s && block, s && block ? r.summaries->angular_distance[i][i + 1] : 0, "%.4f").c_str(),
        cell(s, s ? r.summaries->logit_lens_loss[i] : 0, "%.4f").c_str(),
        cell(s, s ? r.summaries->residual_variance[i] : 0, "%.4g").c_str(),
        cell(u, u ? r.usefulness->ratio[i] : 0, "%.4f").c_str(),
        u ? (r.usefulness->ratio[i] > 1 + r.usefulness->options.tau ? "yes" : "no") : "-",
        cell(j, j ? r.jacobian->summary[i].deviation : 0, "%.4f").c_str(),
        cell(j, j ? r.jacobian->summary[i].offdiag : 0, "%.4f").c_str(),
        cell(j, j ? r.jacobian->summary[i].spectral : 0, "%.3f").c_str());
  }
  std::printf("(row l: block l, except lens_loss and resid_var, which are of h_l; row %d is h_L)\n",
              r.n_layers);
  if (r.summaries && r.n_layers > 1) {
    std::printf("\nloss after removing the k lowest-BI blocks (order");
    for (int b : r.summaries->removal_order) std::printf(" %d", b);
    std::printf("):");
    for (size_t k = 0; k < r.summaries->loss_after_removal.size(); ++k) {
      std::printf(" k=%zu %.4f", k + 1, r.summaries->loss_after_removal[k]);
    }
    std::printf("\n");
  }
  if (r.causal)
    print_matrix("causal matrix C[s][l] (effect of skipping block s on block l)", r.causal->matrix);
  if (r.permutation)
    print_matrix("permutation matrix P[i][j] = |L(swap i,j) - L| / L", r.permutation->matrix);
  if (!stored.empty()) std::printf("\nstored in %s\n", stored.string().c_str());
}

int analyze_main(const AnalyzeArgs& args) {
  if (!args.tokens.empty() && !args.corpus.empty()) {
    throw Error("--tokens " + args.tokens + " and --corpus " + args.corpus +
                " exclude each other: give one token source");
  }
  if (args.batch < 1) throw Error("--batch " + std::to_string(args.batch) + ": must be >= 1");
  if (!(args.cache_mb >= 0)) throw Error("--cache-mb " + num(args.cache_mb) + ": must be >= 0");
  if (args.threads < 0) throw Error("--threads " + std::to_string(args.threads) + ": must be >= 0");
  // As the trainer does: one intra-op thread per physical core unless told (kernels/threads.h).
  kernels::threads_set(args.threads);
  const AnalysisRequest request = request_from(args);

  spec_from(args, /*model_seq_len=*/1);  // option errors before the (slower) checkpoint load
  ProgressLine line(args.quiet);
  const std::filesystem::path checkpoint = analysis_checkpoint_resolve(args.target);
  line.update(0.0, "loading " + checkpoint.string(), /*force=*/true);
  AnalysisModel m = analysis_model_load(checkpoint);
  const EvalSetSpec spec = spec_from(args, m.config.data.seq_len);
  if (request.jacobian && (args.jacobian_samples < 1 || args.jacobian_samples > spec.samples)) {
    throw Error("--jacobian-samples " + std::to_string(args.jacobian_samples) +
                ": must be in 1..N (the evaluation set has N = " + std::to_string(spec.samples) +
                " windows)");
  }

  const DataProgress data_progress = [&](const std::string& stage, double f) {
    line.update(f, "evaluation tokens: " + stage, /*force=*/f >= 1.0);
  };
  EvalTokens tokens = !args.tokens.empty()
                          ? eval_tokens_shard(args.tokens, m.config.model.vocab_size)
                      : !args.corpus.empty() ? eval_tokens_corpus(m, args.corpus, data_progress)
                                             : eval_tokens_heldout(m, data_progress);
  EvalSet eval = eval_set_make(tokens.tokens, spec, tokens.source);
  tokens.tokens.clear();

  AnalyzerOptions options;
  options.batch_size = args.batch;
  options.cache_budget_bytes = int64_t(args.cache_mb * 1024.0 * 1024.0);
  Analyzer analyzer(m.model, std::move(eval), options);
  if (!analyzer.cache_enabled()) {
    std::cerr << "note: the hidden-state cache would take "
              << num(double(analyzer.cache_bytes()) / (1 << 20), "%.0f")
              << " MiB (> --cache-mb); recomputing the intact pass per batch instead\n";
  }
  std::string last_stage;
  AnalysisResult r = analyzer.analyze(request, [&](const std::string& stage, double f) {
    const bool changed = stage != last_stage;
    last_stage = stage;
    line.update(f, stage, /*force=*/changed || f >= 1.0);
  });
  r.checkpoint = checkpoint.string();
  r.step = m.step;

  std::filesystem::path stored;
  if (!args.no_store) {
    std::string replaced_because;
    stored = analysis_store(r, checkpoint, m.step, &replaced_because);
    if (!replaced_because.empty())
      std::cerr << "note: replaced " << stored.string() << " (" << replaced_because << ")\n";
  }
  double seconds = 0;
  for (const auto& [k, v] : r.seconds) seconds += v;
  line.finish("analysed " + checkpoint.string() + " in " + format_duration(seconds));
  if (!args.json.empty() && json_output_write(args.json, analysis_to_json(r) + "\n")) return 0;
  print_summary(r, stored);
  return 0;
}

}  // namespace

Command command_analyze_register(CLI::App& app) {
  auto a = std::make_shared<AnalyzeArgs>();
  app.description(
      "Layer-effectiveness analyses of a checkpoint (docs/analysis.md): causal and permutation\n"
      "scores, usefulness (least-squares replacement of each block), row-wise Jacobians and\n"
      "depth summaries (block influence, angular distance, logit lens, layer removal, layer\n"
      "similarity, residual variance, MoE expert load). Results go to\n"
      "runs/<name>/analysis/step-<N>.h5 (and --json FILE).\n"
      "Examples:\n"
      "  dlab analyze runs/demo\n"
      "  dlab analyze runs/demo/checkpoints/step-400.h5 --what causal,permutation --json a.json\n"
      "  dlab analyze runs/demo --samples 32 --seed 7 --what usefulness --heldout-fit");
  app.add_option("target", a->target,
                 "a checkpoint .h5, or a run directory (its newest checkpoint)")
      ->required();
  app.add_option("--what", a->what,
                 "comma-separated: causal, permutation, usefulness, jacobian, summaries, all")
      ->capture_default_str();
  a->samples_opt = app.add_option("--samples", a->samples, "N, windows in the evaluation set")
                       ->capture_default_str();
  app.add_option("--seq-len", a->seq_len, "T, tokens per window (default: the run's data.seq_len)");
  a->seed_opt =
      app.add_option("--seed", a->seed, "N random windows with this seed (default: the first N)");
  a->first_opt =
      app.add_option("--first", a->first, "the first N non-overlapping windows (the default mode)");
  app.add_option("--tokens", a->tokens, "an llm.c .bin token shard as the token source");
  app.add_option("--corpus", a->corpus,
                 "a corpus (path, @demo, @synthetic) encoded with the checkpoint's tokenizer, "
                 "instead of the run's held-out split");
  app.add_option("--tau", a->tau, "a block is useful when L(M_lin)/L(M) > 1 + tau")
      ->capture_default_str();
  app.add_flag("--transpose-quirk", a->transpose_quirk,
               "evaluate the fit as x W^T + b like the paper's published script");
  app.add_flag("--heldout-fit", a->heldout_fit,
               "fit on the first half of the windows, evaluate on the second half");
  app.add_option("--jacobian-samples", a->jacobian_samples,
                 "sequences the row-wise Jacobians average over (each costs d backward passes)")
      ->capture_default_str();
  app.add_option("--token-jacobian", a->token_jacobian,
                 "SEQ,TOKEN: also the per-position Jacobian dy_t/dx_t of one token, every layer");
  app.add_option("--batch", a->batch, "sequences per forward pass")->capture_default_str();
  app.add_option("--cache-mb", a->cache_mb,
                 "memory budget for the cached hidden states (beyond it: recompute per batch)")
      ->capture_default_str();
  app.add_option("--threads", a->threads, "intra-op threads (default: one per physical core)");
  app.add_option("--json", a->json,
                 "also write the results as JSON to this file ('-': stdout only)");
  app.add_flag("--no-store", a->no_store, "do not write runs/<name>/analysis/step-<N>.h5");
  app.add_flag("-q,--quiet", a->quiet, "no progress line");
  return [a] { return analyze_main(*a); };
}

}  // namespace dlab::cli
