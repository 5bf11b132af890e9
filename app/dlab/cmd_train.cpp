// dlab train: one run, a sweep of runs, or the continuation of a run.
#include <sys/resource.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "common/config_io.h"
#include "common/config_resources.h"
#include "common/config_validate.h"
#include "common/error.h"
#include "common/presets.h"
#include "dist/dist_context.h"
#include "model/device.h"
#include "progress_line.h"
#include "run_paths.h"
#include "store/checkpoint_file.h"
#include "store/run_file.h"
#include "train/trainer.h"

namespace dlab::cli {
namespace {

struct TrainArgs {
  std::string preset;
  std::string config_file;
  std::vector<std::string> sets;
  std::string sweep;
  std::string resume;
  int64_t stop_after = 0;
  bool list_presets = false;
  bool print_config = false;
  bool quiet = false;
  std::string summary_json;
  DistOptions dist;
};

std::atomic<bool> g_stop{false};

void on_signal(int) {
  // First Ctrl-C: finish the step, checkpoint, exit. Second: default action.
  g_stop.store(true);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

std::string progress_text(const TrainProgress& p) {
  std::ostringstream s;
  s << "step " << p.step << "/" << p.total_steps << "  loss " << fmt("%.3f", p.loss);
  if (p.val_loss >= 0) s << "  val " << fmt("%.3f", p.val_loss);
  s << "  lr " << fmt("%.1e", p.lr) << "  " << fmt("%.0f", p.tokens_per_s) << " tok/s"
    << "  ETA " << format_duration(p.eta_s);
  return s.str();
}

// One step as --summary-json lists it.
struct StepRecord {
  int64_t step = 0;
  double interval_s = 0;  // wall time since the previous step ended
  bool evaluated = false;
  StepPhases phases;
};

// --summary-json: what scripts, `dlab bench ddp` and `dlab bench train` read back.
void summary_write(const std::string& path, const TrainResult& r, int world, double wall_s,
                   double tokens_per_step, const std::vector<double>& tokens_per_s,
                   const std::vector<double>& comm_s, const std::vector<StepRecord>& steps) {
  auto median = [](std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  };
  nlohmann::json j;
  j["world_size"] = world;
  j["step"] = r.step;
  j["loss"] = r.loss;
  j["val_loss"] = r.val_loss;
  j["wall_s"] = wall_s;
  j["tokens_per_s_median"] = median(tokens_per_s);
  j["comm_s_median"] = median(comm_s);
  j["steps_timed"] = tokens_per_s.size();
  j["tokens_per_step"] = tokens_per_step;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  j["peak_rss_bytes"] = int64_t(usage.ru_maxrss) * 1024;
  j["threads"] = at::get_num_threads();
  nlohmann::json list = nlohmann::json::array();
  for (const StepRecord& s : steps) {
    const StepPhases& p = s.phases;
    list.push_back({{"step", s.step},
                    {"interval_s", s.interval_s},
                    {"evaluated", s.evaluated},
                    {"residual_stats", p.residual_stats},
                    {"attention_stats", p.attention_stats},
                    {"data_s", p.data},
                    {"forward_s", p.forward},
                    {"backward_s", p.backward},
                    {"allreduce_s", p.allreduce},
                    {"optimizer_s", p.optimizer},
                    {"statistics_s", p.statistics},
                    {"step_s", p.total}});
  }
  j["steps"] = list;
  std::ofstream(path) << j.dump(2) << "\n";
}

int train_one(Config config, const TrainArgs& args, bool resume,
              const std::filesystem::path& resume_dir, DistContext* dist, size_t index) {
  const bool root = !dist || dist->is_root();
  // Refused here, before a run directory is claimed, when it cannot be used.
  const std::string device = device_resolve(config.run.device).str();
  std::filesystem::path run_dir = resume ? resume_dir : std::filesystem::path();
  if (!resume) {
    // Rank 0 picks the directory (run_dir_claim may add -2, -3, ...); the others follow.
    if (root) run_dir = run_dir_claim(config);
    if (dist) {
      run_dir = dist->share(run_dir_share_key(index), run_dir.string(),
                            /*wait_s=*/dist->options().timeout_s);
    }
  }
  if (root) {
    std::cerr << (resume ? "resuming " : "training ") << run_dir.string()
              << "  (L=" << config.model.n_layers << ", d=" << config.model.d_model << ", "
              << config.train.total_steps(config.data.seq_len) << " steps of "
              << config.train.batch_size << "x" << config.data.seq_len << " tokens on " << device;
    if (dist) std::cerr << ", " << dist->world_size() << " ranks (" << dist->backend() << ")";
    std::cerr << ")\n";
  }
  ProgressLine line(args.quiet || !root);
  TrainOptions options;
  options.config = config;
  options.run_dir = run_dir;
  options.resume = resume;
  options.stop_after = args.stop_after;
  options.stop_requested = &g_stop;
  options.dist = dist;
  std::vector<double> tokens_per_s, comm_s;
  std::vector<StepRecord> steps;
  options.on_prepare = [&](const std::string& stage, double fraction) {
    line.update(fraction, "preparing data: " + stage, /*force=*/fraction >= 1.0);
  };
  // Throughput for --summary-json from the wall time between consecutive steps
  // on this rank, so that waiting for slower ranks anywhere in the loop counts;
  // steps that evaluated or checkpointed are left out (the median ignores them).
  auto last_step_end = std::chrono::steady_clock::now();
  options.on_progress = [&](const TrainProgress& p) {
    line.update(double(p.step) / double(p.total_steps), progress_text(p), p.evaluated);
    const auto now = std::chrono::steady_clock::now();
    const double interval = std::chrono::duration<double>(now - last_step_end).count();
    last_step_end = now;
    if (!p.evaluated && interval > 0) {
      tokens_per_s.push_back(double(config.train.batch_size) * config.data.seq_len / interval);
    }
    comm_s.push_back(p.comm_s);
    steps.push_back(StepRecord{p.step, interval, p.evaluated, p.phases});
  };
  const auto t0 = std::chrono::steady_clock::now();
  const TrainResult r = train_run(options);
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!root) return r.outcome == TrainOutcome::Diverged ? 4 : 0;
  if (!args.summary_json.empty()) {
    summary_write(args.summary_json, r, dist ? dist->world_size() : 1, wall_s,
                  double(config.train.batch_size) * config.data.seq_len, tokens_per_s, comm_s,
                  steps);
  }
  std::ostringstream done;
  switch (r.outcome) {
    case TrainOutcome::Finished:
      done << "finished ";
      break;
    case TrainOutcome::Stopped:
      done << "stopped ";
      break;
    case TrainOutcome::Diverged:
      done << "DIVERGED ";
      break;
  }
  done << run_dir.string() << " at step " << r.step;
  if (r.initial_val_loss >= 0 && r.val_loss >= 0) {
    done << "; val loss " << fmt("%.3f", r.initial_val_loss) << " -> " << fmt("%.3f", r.val_loss);
  }
  if (!r.last_checkpoint.empty()) done << "; checkpoint " << r.last_checkpoint.string();
  line.finish(done.str());
  if (r.outcome == TrainOutcome::Diverged) {
    std::cerr << "dlab: " << r.message << "\n";
    return 4;
  }
  if (r.outcome == TrainOutcome::Stopped && g_stop.load()) {
    std::cerr << "continue with: dlab train --resume " << run_dir.string() << "\n";
    return 130;
  }
  return 0;
}

int train_main(const TrainArgs& args) {
  if (args.list_presets) {
    for (const std::string& name : preset_names()) std::cout << name << "\n";
    return 0;
  }
  // RANK / WORLD_SIZE / ... (torchrun, SLURM wrappers, dlab launch): join the group.
  // Signals keep their default action until then: a rank stopped (or whose
  // launcher died) while it waits in the rendezvous has nothing to save, and a
  // handler would only leave it waiting there until the rendezvous timeout.
  const DistEnv env = dist_env_from_process();
  std::unique_ptr<DistContext> dist;
  if (env.distributed() && !args.print_config) dist = std::make_unique<DistContext>(env, args.dist);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  if (!args.resume.empty()) {
    if (!args.preset.empty() || !args.config_file.empty() || !args.sweep.empty()) {
      throw Error(
          "--resume continues a run with its own config; only --set may change it "
          "(e.g. --set train.steps=2000)");
    }
    const std::filesystem::path dir = args.resume;
    Config config = resume_config(dir);
    for (const std::string& s : args.sets) config_set(config, s);
    if (args.print_config) {
      std::cout << config_to_toml(config);
      return 0;
    }
    return train_one(config, args, /*resume=*/true, dir, dist.get(), 0);
  }

  if (args.preset.empty() == args.config_file.empty()) {
    std::string names;
    for (const std::string& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    throw Error("give exactly one of --preset NAME (one of: " + names + ") or --config FILE.toml");
  }
  Config base = args.preset.empty() ? config_from_file(args.config_file) : preset_load(args.preset);
  for (const std::string& s : args.sets) config_set(base, s);
  const std::vector<Config> runs =
      args.sweep.empty() ? std::vector<Config>{base} : config_expand_sweep(base, args.sweep);
  for (const Config& c :
       runs) {  // every run valid and fitting this machine before the first starts
    config_check(c);
    if (const std::string problem = device_problem(c.run.device); !problem.empty())
      throw Error(problem);
    config_check_resources(c, Workload::Training);
  }
  if (args.print_config) {
    for (const Config& c : runs) std::cout << config_to_toml(c) << "\n";
    return 0;
  }
  int code = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (runs.size() > 1) std::cerr << "sweep run " << i + 1 << "/" << runs.size() << "\n";
    code = train_one(runs[i], args, /*resume=*/false, {}, dist.get(), i);
    if (code != 0 && g_stop.load()) break;
  }
  return code;
}

}  // namespace

Command command_train_register(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  app.description(
      "Train a decoder LM and record every metric series to runs/<name>/run.h5.\n"
      "Examples:\n"
      "  dlab train --preset demo\n"
      "  dlab train --preset tiny --set model.n_layers=4 --set train.lr=1e-3\n"
      "  dlab train --preset depth --sweep model.n_layers=4,8,16\n"
      "  dlab train --resume runs/demo --set train.steps=1200\n"
      "  dlab launch --nproc 2 -- train --preset demo --set train.threads=1\n"
      "Ctrl-C stops after the current step and writes a checkpoint; --resume continues.\n"
      "Data parallel: with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set (torchrun's\n"
      "contract; dlab launch sets them) every rank trains on its share of each batch and\n"
      "rank 0 writes the run (docs/distributed.md).");
  app.add_option("--preset", args->preset, "experiment preset (see --list-presets)");
  app.add_option("--config", args->config_file, "TOML config file (see docs/config.md)");
  app.add_option("--set", args->sets, "override one key, e.g. --set train.lr=3e-4 (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--sweep", args->sweep,
                 "one run per value of a key, e.g. --sweep train.weight_decay=0,0.1,1");
  app.add_option("--resume", args->resume,
                 "continue the run in this directory from its newest checkpoint");
  app.add_option(
         "--stop-after", args->stop_after,
         "checkpoint and stop after this many updates (the schedule still spans the whole run)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--list-presets", args->list_presets, "list the available presets and exit");
  app.add_flag("--print-config", args->print_config,
               "print the resolved config(s) as TOML and exit");
  app.add_flag("-q,--quiet", args->quiet, "no progress line");
  app.add_option("--summary-json", args->summary_json,
                 "write the outcome and the median tokens/s and all-reduce time as JSON");
  app.add_option("--dist-backend", args->dist.backend,
                 "distributed runs: auto (nccl on CUDA, else gloo), gloo or nccl")
      ->capture_default_str();
  app.add_option("--dist-timeout", args->dist.timeout_s,
                 "distributed runs: seconds a rank waits for the others before it stops "
                 "with an error naming the missing rank")
      ->capture_default_str();
  app.add_option("--bucket-mb", args->dist.bucket_mb,
                 "distributed runs: gradient all-reduce bucket size in MiB")
      ->capture_default_str();
  return [args] { return train_main(*args); };
}

}  // namespace dlab::cli
