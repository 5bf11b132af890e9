#include "serve/run_manager.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "common/config_io.h"
#include "common/error.h"
#include "dist/dist_context.h"
#include "dist/rank_process.h"
#include "run_paths.h"
#include "train/trainer.h"

namespace dlab::serve {

const char* run_state_name(RunState s) {
  switch (s) {
    case RunState::Running:
      return "running";
    case RunState::Paused:
      return "paused";
    case RunState::Stopped:
      return "stopped";
    case RunState::Finished:
      return "finished";
    case RunState::Diverged:
      return "diverged";
    case RunState::Failed:
      return "failed";
  }
  return "failed";
}

RunState LiveRun::state() const {
  if (ended.load()) {
    std::lock_guard<std::mutex> lock(mutex);
    return end_state;
  }
  return pause.load() ? RunState::Paused : RunState::Running;
}

std::string LiveRun::state_message() const {
  std::lock_guard<std::mutex> lock(mutex);
  return message;
}

RunManager::RunManager(std::filesystem::path runs_dir, size_t replay_capacity)
    : runs_dir_(std::move(runs_dir)), replay_capacity_(replay_capacity) {}

RunManager::~RunManager() { stop_all(); }

void RunManager::stop_all() {
  for (auto& [name, run] : runs_) run->stop.store(true);
  for (auto& [name, run] : runs_) {
    if (run->thread.joinable()) run->thread.join();
  }
}

LiveRun* RunManager::find(const std::string& name) {
  const auto it = runs_.find(name);
  return it == runs_.end() ? nullptr : it->second.get();
}

int RunManager::live_runs() const {
  int n = 0;
  for (const auto& [name, run] : runs_) n += run->ended.load() ? 0 : 1;
  return n;
}

int RunManager::live_ranks() const {
  int n = 0;
  for (const auto& [name, run] : runs_) n += run->ended.load() ? 0 : run->ranks;
  return n;
}

void RunManager::forget_old_ended_runs() {
  std::vector<LiveRun*> ended;
  for (auto& [name, run] : runs_) {
    if (run->ended.load()) ended.push_back(run.get());
  }
  if (ended.size() <= kKeptEndedRuns) return;
  std::sort(ended.begin(), ended.end(),
            [](const LiveRun* a, const LiveRun* b) { return a->serial < b->serial; });
  for (size_t i = 0; i + kKeptEndedRuns < ended.size(); ++i) {
    LiveRun* r = ended[i];
    if (r->thread.joinable()) r->thread.join();  // it has ended: returns at once
    runs_.erase(r->name);
  }
}

namespace {

// Ranks 1..N-1 of a data-parallel run: `dlab train --config <file>` children
// that learn the run directory from rank 0 through the store (as under
// `dlab launch`), and die with this process.
struct ChildRanks {
  std::vector<pid_t> pids;
  std::filesystem::path config_file;

  ~ChildRanks() { finish(); }

  // Waits for every child (they stop with rank 0) up to 30 s, kills those still
  // there, and removes the config file. Idempotent.
  void finish() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (pid_t pid : pids) {
      int status = 0;
      while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          ::kill(pid, SIGKILL);
          ::waitpid(pid, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    pids.clear();
    std::error_code ec;
    if (!config_file.empty()) std::filesystem::remove(config_file, ec);
    config_file.clear();
  }
};

}  // namespace

LiveRun& RunManager::start(Config config, int ranks) {
  forget_old_ended_runs();
  config.run.dir = runs_dir_.string();
  // A name this manager holds is taken even without a run.h5 (a run that
  // failed before writing one, or one that has not written it yet): reusing
  // it would replace a LiveRun whose thread is still joinable.
  const std::string base = config.run.name;
  std::error_code ec;
  for (int k = 2; runs_.count(config.run.name) ||
                  std::filesystem::exists(runs_dir_ / config.run.name / "run.h5", ec);
       ++k) {
    config.run.name = base + "-" + std::to_string(k);
  }
  const std::filesystem::path dir = cli::run_dir_claim(config);
  // run_dir_claim may have moved on to another suffix: that one must be free
  // here too (replacing a held LiveRun would destroy a joinable thread).
  if (runs_.count(config.run.name)) {
    throw Error("run.name=" + config.run.name +
                " is taken by a run of this server; choose another run.name");
  }
  LiveRun* r = add(dir, config, ranks);
  std::cerr << "dlab serve: run " << r->name << " started in " << dir.string() << " ("
            << r->total_steps << " steps, L=" << config.model.n_layers
            << ", d=" << config.model.d_model
            << (ranks > 1 ? ", " + std::to_string(ranks) + " ranks" : "") << ")\n";
  launch(r, /*resume=*/false);
  return *r;
}

LiveRun& RunManager::resume(const std::filesystem::path& dir, Config config) {
  const std::string name = dir.filename().string();
  int64_t next_seq = 1;
  if (const auto it = runs_.find(name); it != runs_.end()) {
    // An ended run of this server: its thread has returned; the new one takes its place.
    if (!it->second->ended.load()) {
      throw Error("run " + name + " is live on this server; it can be continued once it has ended");
    }
    if (it->second->thread.joinable()) it->second->thread.join();
    next_seq = it->second->hub.next_seq();
    runs_.erase(it);
  }
  forget_old_ended_runs();
  config.run.dir = dir.parent_path().string();
  config.run.name = name;
  LiveRun* r = add(dir, config, /*ranks=*/1);
  r->hub.number_from(next_seq);
  std::cerr << "dlab serve: run " << r->name << " continues in " << dir.string() << " (to step "
            << r->total_steps << ")\n";
  launch(r, /*resume=*/true);
  return *r;
}

LiveRun* RunManager::add(const std::filesystem::path& dir, const Config& config, int ranks) {
  auto run = std::make_unique<LiveRun>(config.run.name, replay_capacity_);
  LiveRun* r = run.get();
  r->dir = dir;
  r->config = config;
  r->ranks = ranks;
  r->serial = next_serial_++;
  r->total_steps = config.train.total_steps(config.data.seq_len);
  runs_[r->name] = std::move(run);
  return r;
}

void RunManager::launch(LiveRun* r, bool resume) {
  r->thread = std::thread([r, resume] {
    ChildRanks children;
    std::unique_ptr<DistContext> dist;
    TrainOptions options;
    options.config = r->config;
    options.run_dir = r->dir;
    options.resume = resume;  // from the newest intact checkpoint in run_dir
    options.stop_requested = &r->stop;
    options.pause_requested = &r->pause;
    options.sinks = {&r->hub};
    options.on_progress = [r](const TrainProgress& p) {
      r->step.store(p.step);
      r->hub.on_progress(p);
    };
    RunState end = RunState::Failed;
    std::string message;
    try {
      if (r->ranks > 1) {
        DistEnv env;
        env.world_size = r->ranks;
        env.master_port = dist_free_port();
        // The children read the same config (the claimed run name included).
        children.config_file = r->dir.parent_path() / ("." + r->name + ".ranks.toml");
        std::ofstream(children.config_file) << config_to_toml(r->config);
        RankProcessOptions child_options;
        child_options.die_with_parent = true;
        for (int rank = 1; rank < r->ranks; ++rank) {
          DistEnv child = env;
          child.rank = child.local_rank = rank;
          children.pids.push_back(
              rank_process_spawn("/proc/self/exe", "dlab",
                                 {"train", "--quiet", "--config", children.config_file.string()},
                                 child, child_options));
        }
        dist = std::make_unique<DistContext>(env, DistOptions{});
        // What `dlab train` rank 0 does: the others take the directory from it.
        dist->share(cli::run_dir_share_key(0), r->dir.string(),
                    /*wait_s=*/dist->options().timeout_s);
        options.dist = dist.get();
      }
      const TrainResult result = train_run(options);
      end = result.outcome == TrainOutcome::Finished  ? RunState::Finished
            : result.outcome == TrainOutcome::Stopped ? RunState::Stopped
                                                      : RunState::Diverged;
      message = result.message;
    } catch (const std::exception& e) {
      message = e.what();
    }
    // The other ranks end with rank 0; the run has ended once they have.
    dist.reset();
    children.finish();
    std::cerr << "dlab serve: run " << r->name << " " << run_state_name(end) << " at step "
              << r->step.load() << (message.empty() ? "" : ": " + message) << "\n";
    {
      std::lock_guard<std::mutex> lock(r->mutex);
      r->end_state = end;
      r->message = message;
    }
    r->ended.store(true);
  });
}

}  // namespace dlab::serve
