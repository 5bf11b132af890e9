// One thread that runs the long requests (evaluate, analyze, jacobian), so
// they never run on the server's thread and never stall telemetry. It keeps
// the Analyzer of the last checkpoint it loaded, so a series of evaluate()
// calls on one checkpoint reuses its hidden-state cache.
//
// Fairness (issue 13): every client has its own queue and the worker takes
// the clients in turn (round robin), so a client that keeps its queue full
// delays another client's request by at most the one analysis running when
// it arrives. The server bounds each queue (ServerOptions::max_pending_jobs).
//
// Cancellation: a job polls check_cancelled() (through the progress callbacks
// of the analyses); it throws Cancelled once the job's client is gone or the
// worker is shutting down, so neither waits for a long analysis to finish.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "analysis/analyzer.h"

namespace dlab::serve {

class AnalysisWorker {
 public:
  // Thrown by check_cancelled(): the job stops where it is.
  struct Cancelled : std::runtime_error {
    Cancelled() : std::runtime_error("cancelled: the server is shutting down or the client left") {}
  };

  AnalysisWorker();
  ~AnalysisWorker();  // quit(), then joins the thread

  using Job = std::function<void(AnalysisWorker&)>;
  // Queues `job` for `client`; the clients' queues are served in turn.
  void post(int64_t client, Job job);
  // The client is gone: its queued jobs are dropped and its running one is cancelled.
  void cancel_client(int64_t client);
  // Drops every queued job and cancels the running one; the thread ends as soon
  // as that job returns. Does not wait (the destructor joins).
  void quit();
  size_t queued() const;

  // Worker thread only: throws Cancelled when the running job should stop.
  void check_cancelled() const;

  // Worker thread only: the Analyzer of `checkpoint` on `samples` windows of
  // the run's held-out split (loaded once and kept for the next job).
  Analyzer& analyzer(const std::filesystem::path& checkpoint, int samples, int64_t* step);

 private:
  void loop();
  // The next job in round-robin order (queues_ not empty); lock held.
  Job take_next();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<int64_t, std::deque<Job>> queues_;  // client -> its jobs, oldest first
  int64_t last_client_ = -1;                   // the client whose job ran last
  int64_t running_client_ = -1;                // the client of the running job (-1: none)
  bool quit_ = false;
  std::atomic<bool> cancel_running_{false};
  std::unique_ptr<Analyzer> analyzer_;
  std::string analyzer_key_;
  int64_t analyzer_step_ = 0;
  std::thread thread_;
};

}  // namespace dlab::serve
