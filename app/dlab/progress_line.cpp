#include "progress_line.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dlab::cli {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lds", s);
  }
  return buf;
}

ProgressLine::ProgressLine(bool quiet) : tty_(isatty(STDERR_FILENO) != 0), quiet_(quiet) {}

void ProgressLine::update(double fraction, const std::string& text, bool force) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    constexpr int kWidth = 24;
    const int filled = int(std::lround(std::clamp(fraction, 0.0, 1.0) * kWidth));
    std::string bar(size_t(filled), '=');
    if (filled < kWidth) bar += '>' + std::string(size_t(kWidth - filled - 1), ' ');
    std::fprintf(stderr, "\r\033[K[%s] %3.0f%% %s", bar.c_str(), 100 * fraction, text.c_str());
    std::fflush(stderr);
  } else {
    const int decile = int(std::floor(fraction * 10));
    if (!force && decile == last_decile_) return;
    last_decile_ = decile;
    std::fprintf(stderr, "%3.0f%% %s\n", 100 * fraction, text.c_str());
  }
}

void ProgressLine::finish(const std::string& text) {
  if (tty_ && !quiet_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s\n", text.c_str());
}

}  // namespace dlab::cli
