// The training loop: data, model, AdamW, schedule, evaluation, streaming
// statistics, checkpoints, resume and divergence handling, all writing one run
// directory (runs/<name>/run.h5 + checkpoints/).
//
// Threading: train_run() runs on the calling thread and calls on_progress and
// the sinks from it. Stopping is cooperative: set *stop_requested and the loop
// checkpoints and returns after the current step.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/config.h"
#include "train/metrics_sink.h"

namespace dlab {

class DistContext;

// Wall time of one step's phases, in seconds (CPU work is synchronous, so
// each phase is timed as it runs).
struct StepPhases {
  double data = 0;        // sampling the batch
  double forward = 0;     // forward pass and loss (fused attention statistics included)
  double backward = 0;    // backward pass
  double allreduce = 0;   // gradient all-reduce and loss reduction (distributed runs)
  double optimizer = 0;   // gradient norm, clipping and the AdamW update
  double statistics = 0;  // turning the probes into metric rows (residual, attention, weights)
  double total = 0;       // the whole step as tokens_per_s counts it
  bool residual_stats = false;   // this step took residual statistics
  bool attention_stats = false;  // ... and attention statistics
};

struct TrainProgress {
  int64_t step = 0;  // completed updates
  int64_t total_steps = 0;
  double loss = 0;       // training loss of the last step
  double val_loss = -1;  // last evaluation (< 0: none yet)
  double lr = 0;
  double tokens_per_s = 0;       // smoothed
  double tokens_per_s_step = 0;  // the last step's, global batch tokens over its time
  double elapsed_s = 0;
  double eta_s = 0;
  bool evaluated = false;  // this step ran an evaluation
  double comm_s = 0;       // gradient all-reduce time of the last step (distributed runs)
  StepPhases phases;       // of the last step
};

struct TrainOptions {
  Config config;
  std::filesystem::path run_dir;  // runs/<name>
  bool resume = false;            // continue from the newest checkpoint in run_dir
  int64_t stop_after = 0;         // > 0: checkpoint and return after this many updates
  std::function<void(const TrainProgress&)> on_progress;
  std::function<void(const std::string& stage, double fraction)> on_prepare;
  // What the user should know but is not an error (a damaged checkpoint that
  // was skipped on resume); unset: written to stderr.
  std::function<void(const std::string& text)> on_notice;
  const std::atomic<bool>* stop_requested = nullptr;
  // While *pause_requested is true the loop waits between steps (a stop still
  // ends it); dlab serve's pause/resume.
  const std::atomic<bool>* pause_requested = nullptr;
  std::vector<MetricsSink*> sinks;  // extra receivers of every metric row
  // Data parallel (docs/distributed.md): this rank's group, or null for one
  // process. Every rank calls train_run with the same options; rank 0 alone
  // writes run.h5, checkpoints, sinks and progress.
  DistContext* dist = nullptr;
};

enum class TrainOutcome { Finished, Stopped, Diverged };

struct TrainResult {
  TrainOutcome outcome = TrainOutcome::Finished;
  int64_t step = 0;
  double loss = 0;
  double val_loss = -1;
  double initial_val_loss = -1;  // held-out loss of the untrained model (fresh runs)
  std::string message;           // for Diverged: what and where
  std::filesystem::path last_checkpoint;
};

// Runs (or resumes) a training run. Throws dlab::Error for invalid configs,
// missing data or unreadable files, before any step is taken.
TrainResult train_run(const TrainOptions& options);

// The newest checkpoint of a run directory; dlab::Error if there is none.
std::filesystem::path checkpoint_latest(const std::filesystem::path& run_dir);

}  // namespace dlab
