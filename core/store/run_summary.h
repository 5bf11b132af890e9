// runs/<name>/summary.json: where a run stands (status, step, last losses) in
// a small JSON file beside run.h5, rewritten at each checkpoint and when the
// run ends. Listing runs reads it instead of opening every run.h5, so a
// worker answers `list_runs` without putting libhdf5 on a request path, and a
// run table after a restart still shows each run's step and loss.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace dlab {

struct RunSummary {
  std::string
      status;        // as run.h5's /status: running, finished, stopped, diverged: ..., failed: ...
  int64_t step = 0;  // completed updates
  int64_t total_steps = 0;
  double loss = NAN;      // training loss of the last step (NaN: none yet)
  double val_loss = NAN;  // the last evaluation (NaN: none yet)
};

inline constexpr char kRunSummaryFile[] = "summary.json";
// A summary.json larger than this is not read (it is a few hundred bytes).
inline constexpr int64_t kRunSummaryMaxBytes = 64 * 1024;

// The summary as summary.json holds it, and as `dlab serve`'s list_runs sends
// it: {"status", "step", "total_steps", "loss", "val_loss"}, a loss not known
// yet as null (JSON has no NaN).
nlohmann::json run_summary_json(const RunSummary& summary);

// Writes run_dir/summary.json atomically (a temporary file renamed over it).
// dlab::Error when it cannot be written.
void run_summary_write(const std::filesystem::path& run_dir, const RunSummary& summary);

// The summary of run_dir; nullopt when there is none or it cannot be read
// (missing, too large, not the JSON above). Never throws.
std::optional<RunSummary> run_summary_read(const std::filesystem::path& run_dir);

}  // namespace dlab
