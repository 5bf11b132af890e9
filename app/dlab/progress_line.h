// A one-line live progress display for long jobs: redrawn in place on a
// terminal, printed as plain periodic lines otherwise (CI logs, pipes).
#pragma once

#include <chrono>
#include <string>

namespace dlab::cli {

std::string format_duration(double seconds);  // "3m12s", "1h04m", "42s"

class ProgressLine {
 public:
  explicit ProgressLine(bool quiet = false);
  // fraction in [0,1]; text after the bar. Throttled to ~10 redraws/s on a
  // terminal and to one line per 10% (or `force`) otherwise.
  void update(double fraction, const std::string& text, bool force = false);
  void finish(const std::string& text);  // final line, always printed

 private:
  bool tty_;
  bool quiet_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace dlab::cli
