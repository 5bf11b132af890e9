// One run's telemetry stream: the trainer's metric rows, aggregated into
// numbered messages and kept in a bounded replay buffer.
//
// Threading: on_row / on_step_end / on_progress run on the training thread and
// only append under a mutex (training never waits on a client). drain() and
// frames_from() run on the server's thread: drain() turns every finished step
// since the last call into one message, so the server's 33 ms tick bounds the
// stream to ~30 messages per second however fast training runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "protocol/protocol.h"
#include "train/metrics_sink.h"
#include "train/trainer.h"

namespace dlab::serve {

// One numbered telemetry message, encoded once for every client.
struct TelemetryFrame {
  int64_t seq = 0;
  std::string json;           // JSON text
  std::vector<uint8_t> cbor;  // CBOR binary
};

class TelemetryHub : public MetricsSink {
 public:
  TelemetryHub(std::string run, size_t replay_capacity);

  // Training thread.
  void on_row(const std::string& series, int64_t step, const std::vector<float>& values) override;
  void on_step_end(int64_t step) override;
  void on_progress(const TrainProgress& progress);

  // Server thread: one message holding every step finished since the last
  // call (nullptr when none finished), appended to the replay buffer.
  std::shared_ptr<const TelemetryFrame> drain();
  // Frames with seq >= from_seq still in the buffer, oldest first.
  std::vector<std::shared_ptr<const TelemetryFrame>> frames_from(int64_t from_seq) const;
  int64_t oldest_seq() const;  // first seq in the buffer (next_seq() when empty)
  int64_t next_seq() const { return next_seq_; }
  // Numbers this hub's messages on from `next_seq` (before its first drain):
  // a continued run goes on with the numbers of the run it continues, so its
  // subscribers' streams carry on with no gap and no duplicate.
  void number_from(int64_t next_seq) { next_seq_ = next_seq; }

 private:
  struct Step {
    int64_t step = 0;
    double t_ms = 0;                                 // unix time the step's rows were complete, ms
    nlohmann::json rows = nlohmann::json::object();  // series -> [values]
  };
  std::string run_;
  size_t capacity_;
  std::mutex mutex_;  // guards current_, ready_, progress_
  Step current_;
  std::vector<Step> ready_;
  nlohmann::json progress_;
  bool progress_new_ = false;
  // Server thread only.
  int64_t next_seq_ = 1;
  std::deque<std::shared_ptr<const TelemetryFrame>> replay_;
};

}  // namespace dlab::serve
