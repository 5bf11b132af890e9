// Where the trainer's metric rows go. The run file is one sink; the session
// server (dlab serve) adds another to stream telemetry. Rows arrive on the
// training thread; a sink must not block for long (the server's sink only
// enqueues).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlab {

class MetricsSink {
 public:
  virtual ~MetricsSink() = default;
  virtual void on_row(const std::string& series, int64_t step,
                      const std::vector<float>& values) = 0;
  // Called once per training step after all of its rows.
  virtual void on_step_end(int64_t /*step*/) {}
};

}  // namespace dlab
