// One thread that runs the long requests (evaluate, analyze, jacobian) in
// arrival order, so they never run on the server's thread and never stall
// telemetry. It keeps the Analyzer of the last checkpoint it loaded, so a
// series of evaluate() calls on one checkpoint reuses its hidden-state cache.
#pragma once

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "analysis/analyzer.h"

namespace dlab::serve {

class AnalysisWorker {
 public:
  AnalysisWorker();
  ~AnalysisWorker();  // finishes the running job, drops the queued ones

  using Job = std::function<void(AnalysisWorker&)>;
  void post(Job job);
  size_t queued() const;

  // Worker thread only: the Analyzer of `checkpoint` on `samples` windows of
  // the run's held-out split (loaded once and kept for the next job).
  Analyzer& analyzer(const std::filesystem::path& checkpoint, int samples, int64_t* step);

 private:
  void loop();
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  bool quit_ = false;
  std::unique_ptr<Analyzer> analyzer_;
  std::string analyzer_key_;
  int64_t analyzer_step_ = 0;
  std::thread thread_;
};

}  // namespace dlab::serve
