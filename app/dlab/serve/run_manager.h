// The runs this server started: each trains on its own thread (train_run) and
// streams through its TelemetryHub. Runs keep training when every client has
// gone; any client can attach to any run.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/config.h"
#include "serve/telemetry_hub.h"

namespace dlab::serve {

enum class RunState { Running, Paused, Stopped, Finished, Diverged, Failed };
const char* run_state_name(RunState s);

struct LiveRun {
  std::string name;
  std::filesystem::path dir;
  Config config;
  int64_t total_steps = 0;
  int ranks = 1;       // data-parallel ranks: rank 0 on this run's thread, 1..N-1 child processes
  int64_t serial = 0;  // start order (the oldest ended runs are forgotten first)
  std::atomic<bool> stop{false};
  std::atomic<bool> pause{false};
  std::atomic<bool> ended{false};
  std::atomic<int64_t> step{0};
  TelemetryHub hub;
  std::thread thread;
  mutable std::mutex mutex;  // guards end_state, message
  RunState end_state = RunState::Finished;
  std::string message;

  LiveRun(std::string n, size_t replay_capacity) : name(n), hub(std::move(n), replay_capacity) {}
  RunState state() const;
  std::string state_message() const;
};

class RunManager {
 public:
  RunManager(std::filesystem::path runs_dir, size_t replay_capacity);
  ~RunManager();  // stops every run (checkpointing) and joins its thread

  // Claims runs_dir/<config.run.name>[-k] and starts training there: -k is
  // added while the name is taken by a run.h5 or by a run this manager holds
  // (one that ended before writing its run.h5 included). The config
  // must be valid (config_check). With ranks > 1 the run is data parallel
  // (docs/distributed.md): rank 0 trains on the run's thread and writes the
  // run, ranks 1..N-1 are `dlab train` child processes on this machine, joined
  // through a TCPStore on a free 127.0.0.1 port. Returns the run.
  LiveRun& start(Config config, int ranks = 1);
  // Continues the run in `dir` (under runs_dir) from its newest intact
  // checkpoint with `config` (its run.h5's, with overrides such as a larger
  // train.steps), on one rank. An ended LiveRun of that name is replaced; a
  // live one is refused (dlab::Error).
  LiveRun& resume(const std::filesystem::path& dir, Config config);
  LiveRun* find(const std::string& name);
  std::map<std::string, std::unique_ptr<LiveRun>>& runs() { return runs_; }
  const std::filesystem::path& runs_dir() const { return runs_dir_; }
  // Runs that have not ended, and their ranks summed (the --max-runs and
  // --max-ranks caps).
  int live_runs() const;
  int live_ranks() const;
  void stop_all();

  // Ended runs stay subscribable (a late client gets their replay buffer and
  // final state); beyond this many the oldest are forgotten, so a server that
  // starts run after run does not keep every replay buffer forever.
  static constexpr size_t kKeptEndedRuns = 16;

 private:
  void forget_old_ended_runs();
  // A new LiveRun named config.run.name for `dir`, held by this manager; not started.
  LiveRun* add(const std::filesystem::path& dir, const Config& config, int ranks);
  // Starts r's training thread (train_run; resume: from its checkpoint).
  void launch(LiveRun* r, bool resume);

  std::filesystem::path runs_dir_;
  size_t replay_capacity_;
  int64_t next_serial_ = 1;
  std::map<std::string, std::unique_ptr<LiveRun>> runs_;
};

}  // namespace dlab::serve
