#include "serve/run_manager.h"

#include "common/error.h"
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

LiveRun& RunManager::start(Config config) {
  config.run.dir = runs_dir_.string();
  const std::filesystem::path dir = cli::run_dir_claim(config);
  auto run = std::make_unique<LiveRun>(config.run.name, replay_capacity_);
  LiveRun* r = run.get();
  r->dir = dir;
  r->config = config;
  r->total_steps = config.train.total_steps(config.data.seq_len);
  r->thread = std::thread([r] {
    TrainOptions options;
    options.config = r->config;
    options.run_dir = r->dir;
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
      const TrainResult result = train_run(options);
      end = result.outcome == TrainOutcome::Finished  ? RunState::Finished
            : result.outcome == TrainOutcome::Stopped ? RunState::Stopped
                                                      : RunState::Diverged;
      message = result.message;
    } catch (const std::exception& e) {
      message = e.what();
    }
    {
      std::lock_guard<std::mutex> lock(r->mutex);
      r->end_state = end;
      r->message = message;
    }
    r->ended.store(true);
  });
  runs_[r->name] = std::move(run);
  return *r;
}

}  // namespace dlab::serve
