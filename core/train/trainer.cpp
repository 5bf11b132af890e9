#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <thread>

#include "catalog/series_catalog.h"
#include "common/config_json.h"
#include "common/config_resources.h"
#include "common/config_validate.h"
#include "common/error.h"
#include "data/batching.h"
#include "data/dataset.h"
#include "dist/dist_context.h"
#include "kernels/gemm.h"
#include "kernels/optimizer.h"
#include "kernels/threads.h"
#include "model/device.h"
#include "model/transformer.h"
#include "store/run_file.h"
#include "store/run_summary.h"
#include "train/adamw.h"
#include "train/checkpointing.h"
#include "train/schedule.h"
#include "train/step_stats.h"

namespace dlab {
namespace {

using Clock = std::chrono::steady_clock;

// "nan", "inf", "1.5e+10", "0.003": for messages.
std::string format_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Thrown out of data preparation when a stop is requested there.
struct StopDuringPreparation {};

// Fans every metric row out to the run file and the extra sinks. Ranks other
// than 0 of a distributed run have no writer and drop their rows here.
class RowFanout {
 public:
  RowFanout(RunWriter* writer, const std::vector<MetricsSink*>& sinks)
      : writer_(writer), sinks_(sinks) {}
  void row(const std::string& series, int64_t step, const std::vector<float>& values) {
    if (!writer_) return;
    writer_->append(series, step, values);
    for (MetricsSink* s : sinks_) s->on_row(series, step, values);
  }
  void rows(const MetricRows& rows, int64_t step) {
    for (const auto& [name, values] : rows) row(name, step, values);
  }
  void scalar(const std::string& series, int64_t step, double v) { row(series, step, {float(v)}); }
  void step_end(int64_t step) {
    if (!writer_) return;
    writer_->flush();
    for (MetricsSink* s : sinks_) s->on_step_end(step);
  }

 private:
  RunWriter* writer_;
  const std::vector<MetricsSink*>& sinks_;
};

// The batch's tokens on the run's device (batches are made on the CPU).
Batch batch_to(Batch batch, const torch::Device& device) {
  if (device.is_cpu()) return batch;
  batch.inputs = batch.inputs.to(device, /*non_blocking=*/false);
  batch.targets = batch.targets.to(device, /*non_blocking=*/false);
  return batch;
}

// Mean loss over `batches` held-out batches of the first non-overlapping windows.
// A distributed run splits the batches over the ranks (batch b on rank b mod world).
// A stop request ends it after the current batch (NaN: not a loss to record);
// every rank still takes part in the final sum, so the ranks stay in step.
double evaluate_loss(Transformer& model, const std::vector<uint16_t>& val, int batches,
                     int batch_size, int seq_len, const torch::Device& device, DistContext* dist,
                     const std::atomic<bool>* stop) {
  torch::NoGradGuard no_grad;
  const int rank = dist ? dist->rank() : 0;
  const int world = dist ? dist->world_size() : 1;
  const int64_t windows = eval_window_count(val.size(), seq_len);
  std::vector<double> total{0.0};
  for (int b = rank; b < batches; b += world) {
    if (stop && stop->load()) {
      total[0] = std::numeric_limits<double>::quiet_NaN();
      break;
    }
    const int64_t first = (int64_t(b) * batch_size) % std::max<int64_t>(1, windows);
    const Batch batch = batch_to(batch_eval(val, first, batch_size, seq_len), device);
    total[0] += model->forward_loss(batch.inputs, batch.targets).loss.item<double>();
  }
  if (dist) dist->sum(total);
  return total[0] / batches;
}

// Token-weighted mean of every rank's statistics rows: each rank contributes
// its rows times its share of the global batch's tokens.
void rows_reduce(MetricRows& rows, double weight, DistContext& dist) {
  std::vector<double> flat;
  for (const auto& [name, values] : rows) {
    for (float v : values) flat.push_back(double(v) * weight);
  }
  dist.sum(flat);
  size_t i = 0;
  for (auto& [name, values] : rows) {
    for (float& v : values) v = float(flat[i++]);
  }
}

// Global L2 norm of all gradients: one fused pass, or per tensor in float64.
double gradient_norm(const std::vector<torch::Tensor>& params, bool fused) {
  torch::NoGradGuard no_grad;
  if (fused) {
    std::vector<torch::Tensor> grads;
    for (const auto& p : params) grads.push_back(p.grad());
    return std::sqrt(kernels::sum_squares(grads));
  }
  double sq = 0;
  for (const auto& p : params) {
    if (p.grad().defined()) sq += p.grad().to(torch::kFloat64).pow(2).sum().item<double>();
  }
  return std::sqrt(sq);
}

// The factor that brings the gradients to max_norm when above it (max_norm > 0), else 1.
double clip_scale(double norm, double max_norm) {
  return max_norm > 0 && std::isfinite(norm) && norm > max_norm ? max_norm / (norm + 1e-6) : 1.0;
}

// The run's kernels and precision on its device, refused where they cannot run.
ExecOptions exec_for(const TrainConfig& tc, const torch::Device& device) {
  const ExecOptions exec = exec_options_from(tc.kernels, tc.precision, device.is_cuda());
  if (exec.kernels == Kernels::Fused && exec.precision == kernels::Precision::Bf16 &&
      !kernels::gemm_bf16_supported()) {
    throw Error(std::string("train.precision = bf16: the fused kernels' bf16 matrix products need "
                            "AVX-512 (oneDNN), which this CPU lacks (oneDNN: ") +
                kernels::gemm_isa_name() +
                "); use train.precision = fp32, or train.kernels = reference (LibTorch's "
                "autocast, slower)");
  }
  return exec;
}

}  // namespace

std::filesystem::path checkpoint_latest(const std::filesystem::path& run_dir) {
  const auto list = checkpoint_list(run_dir);
  if (list.empty()) {
    throw Error("no checkpoint in " + (run_dir / "checkpoints").string() +
                "; a run can only be resumed from a checkpoint");
  }
  return list.back().second;
}

namespace {

// Restores the newest checkpoint that reads back whole, saying which newer ones were skipped and
// why (a kill or a disk error can damage the newest). Every older one overwrites all of the model's
// and the optimizer's state, so a partial load of a damaged newer one leaves nothing behind.
// nullopt: the run has no checkpoint at all. Throws when there are checkpoints and none of them is
// usable.
std::optional<TrainingState> checkpoint_restore_newest_intact(
    const std::filesystem::path& run_dir, Transformer& model, AdamW& optimizer,
    const std::function<void(const std::string&)>& notice) {
  const auto list = checkpoint_list(run_dir);
  if (list.empty()) return std::nullopt;
  std::string problems;
  for (auto it = list.rbegin(); it != list.rend(); ++it) {
    const std::filesystem::path& path = it->second;
    try {
      // checkpoint_read also refuses a step attribute that disagrees with the name.
      TrainingState restored = checkpoint_restore(path, model, &optimizer);
      if (!problems.empty()) {
        notice("resuming from " + path.filename().string() +
               ", the newest intact checkpoint:" + problems);
      }
      return restored;
    } catch (const Error& e) {
      problems += "\n  skipped " + path.filename().string() + ": " + e.what();
    }
  }
  throw Error("no checkpoint of " + run_dir.string() + " can be restored:" + problems);
}

// The body of train_run; `writer` lives in the caller so that a failure (a
// rank lost, a disk full) can still be recorded in run.h5's status.
TrainResult train_loop(const TrainOptions& options, std::optional<RunWriter>& writer) {
  const Config& cfg = options.config;
  const auto notice = [&](const std::string& text) {
    if (options.dist && !options.dist->is_root()) return;  // said once, by rank 0
    if (options.on_notice) {
      options.on_notice(text);
    } else {
      std::cerr << "dlab: " << text << "\n";
    }
  };
  config_check(cfg);
  // Before anything is allocated: does the run fit this machine (memory, threads)?
  config_check_resources(cfg, Workload::Training);
  // The run's one device: model, batches, optimizer state and statistics live
  // there; checkpoints are float32 on the CPU side, so a run resumes anywhere.
  const torch::Device device = device_resolve(cfg.run.device);
  if (device.is_cuda() && options.dist && options.dist->world_size() > 1) {
    throw Error("run.device=" + cfg.run.device + " with " +
                std::to_string(options.dist->world_size()) +
                " ranks: data-parallel CUDA runs need ProcessGroupNCCL, which this build does not "
                "set up yet; use one rank, or run.device=cpu for several");
  }
  const ModelConfig& mc = cfg.model;
  const TrainConfig& tc = cfg.train;
  const int T = cfg.data.seq_len;
  const int B = tc.batch_size;
  const int64_t total_steps = tc.total_steps(T);
  const int64_t last_step =
      options.stop_after > 0 ? std::min(options.stop_after, total_steps) : total_steps;

  kernels::threads_set(tc.threads);  // this thread's intra-op threads (kernels/threads.h)
  const ExecOptions exec = exec_for(tc, device);
  const bool fused = exec.kernels == Kernels::Fused;
  DistContext* dist = options.dist;
  const bool root = !dist || dist->is_root();
  const int rank = dist ? dist->rank() : 0;
  const int world = dist ? dist->world_size() : 1;

  // ---- data -------------------------------------------------------------
  // Rank 0 prepares (and caches) the tokens first; the others then read the
  // cache instead of racing to write it.
  const std::string data_key = "data-ready:" + options.run_dir.string();
  if (!root) dist->share(data_key, "", /*wait_s=*/24 * 3600.0);
  // A stop during data preparation ends the run there (checked as each stage
  // reports; a stage never runs unbounded: tokenizer training reads at most 8 MB).
  auto prepare_progress = [&](const std::string& stage, double fraction) {
    if (root && options.on_prepare) options.on_prepare(stage, fraction);
    // Not from inside the tokenizer trainer: its callback runs in the SentencePiece plugin.
    if (stage != "training tokenizer" && options.stop_requested && options.stop_requested->load()) {
      throw StopDuringPreparation();
    }
  };
  const TokenData data = dataset_prepare(cfg.data, mc.vocab_size, prepare_progress);
  if (dist && root) dist->share(data_key, "1", /*wait_s=*/0);

  // ---- model and optimizer (seeded, so a fresh run is reproducible) -----
  Transformer model(nullptr);
  {
    std::lock_guard<std::mutex> init_lock(model_init_mutex());
    torch::manual_seed(tc.seed);
    model = Transformer(mc);
  }
  model->set_exec(exec);
  model->to(device);  // before the optimizer takes the parameters
  std::vector<torch::Tensor> params;
  for (const auto& [name, p] : model->state_dict_hf()) params.push_back(p);
  AdamW optimizer(model->state_dict_hf(), AdamWOptions{/*beta1=*/tc.beta1, /*beta2=*/tc.beta2,
                                                       /*eps=*/tc.adam_eps,
                                                       /*weight_decay=*/tc.weight_decay,
                                                       /*fused=*/fused});

  // ---- run directory ----------------------------------------------------
  std::filesystem::create_directories(options.run_dir);
  const std::filesystem::path run_file = options.run_dir / "run.h5";
  TrainingState state;
  state.config_json = config_to_json(cfg);
  state.tokenizer_kind = data.tokenizer ? data.tokenizer->kind() : "none";
  state.tokenizer_model = data.tokenizer ? data.tokenizer->model_bytes() : "";
  // `writer`: rank 0 only
  if (options.resume) {
    // Every rank restores the same checkpoint (the run directory is shared), so
    // a run can resume on a different number of ranks.
    const std::optional<TrainingState> restored =
        checkpoint_restore_newest_intact(options.run_dir, model, optimizer, notice);
    if (restored) {
      state.step = restored->step;
      state.tokens_seen = restored->tokens_seen;
    } else {
      // Killed before its first checkpoint: the seeded initialisation above is
      // the run's step 0, so starting again reproduces it exactly.
      notice(options.run_dir.string() + " has no checkpoint yet; the run starts again at step 0");
    }
    // Without a checkpoint no row survives, not even the step-0 evaluation,
    // which the run makes again.
    const int64_t keep_through = restored ? state.step : -1;
    if (root) writer.emplace(RunWriter::open_resume(run_file, keep_through, series_catalog(cfg)));
  } else if (root) {
    writer.emplace(RunWriter::create(run_file, state.config_json, series_catalog(cfg)));
  }
  // summary.json beside run.h5 (store/run_summary.h): what a run list shows
  // without opening run.h5. A resumed run keeps its last losses until new ones come.
  RunSummary summary;
  if (options.resume) summary = run_summary_read(options.run_dir).value_or(RunSummary{});
  summary.total_steps = total_steps;
  bool summary_failed = false;
  auto summary_write = [&]() {
    if (!writer || summary_failed) return;
    summary.step = state.step;
    try {
      run_summary_write(options.run_dir, summary);
    } catch (const Error& e) {
      summary_failed = true;  // said once; run.h5 and the checkpoints still have everything
      notice(std::string(e.what()) + "; the run goes on without its summary.json");
    }
  };
  auto set_status = [&](const std::string& status) {
    if (writer) writer->set_status(status);
    summary.status = status;
    summary_write();
  };
  set_status("running");
  // Rank 0's weights everywhere, whatever each rank initialised or restored.
  if (dist) dist->broadcast(params);
  RowFanout out(writer ? &*writer : nullptr, options.sinks);

  TrainResult result;
  result.step = state.step;
  TrainProgress progress;
  progress.total_steps = total_steps;
  const Clock::time_point t_start = Clock::now();
  const int64_t first_step = state.step;

  auto save = [&]() {
    if (root) result.last_checkpoint = checkpoint_save(options.run_dir, state, model, optimizer);
    summary_write();
  };

  if (state.step == 0) {  // the untrained model's held-out loss, about ln V
    const double v = evaluate_loss(model, data.val, int(tc.eval_batches), B, T, device, dist,
                                   options.stop_requested);
    if (!std::isnan(v) || !(options.stop_requested && options.stop_requested->load())) {
      out.scalar(series::kValLoss, 0, v);
      out.scalar(series::kValPpl, 0, std::exp(v));
      out.step_end(0);
      progress.val_loss = v;
      result.initial_val_loss = v;
      summary.val_loss = v;
    }
  }

  // ---- the loop: iteration s turns s completed updates into s+1 --------
  for (int64_t s = state.step; s < last_step; ++s) {
    auto stopping = [&] { return options.stop_requested && options.stop_requested->load(); };
    while (options.pause_requested && options.pause_requested->load() && !stopping()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // A stop on any rank stops every rank at the same step.
    std::vector<double> stop{stopping() ? 1.0 : 0.0};
    if (dist) {
      dist->set_step(s);
      dist->sum(stop);
    }
    if (stop[0] > 0) {
      save();
      set_status("stopped");
      result.outcome = TrainOutcome::Stopped;
      return result;
    }
    const Clock::time_point t0 = Clock::now();
    StepPhases phases;
    Clock::time_point mark = t0;
    auto lap = [&mark]() {  // seconds since the previous lap
      const Clock::time_point now = Clock::now();
      const double dt = std::chrono::duration<double>(now - mark).count();
      mark = now;
      return dt;
    };
    const bool residual_stats = s % tc.stats_every == 0;
    const bool attn_stats = s % tc.attn_stats_every == 0;
    phases.residual_stats = residual_stats;
    phases.attention_stats = attn_stats;
    // This rank's rows of the global batch; `share` weights its contributions.
    const Batch batch = batch_to(batch_sample(data.train, s, B, T, tc.seed, rank, world), device);
    const double share = double(batch.inputs.size(0)) / double(B);
    phases.data = lap();

    const ProbeRequest probes = step_probes(residual_stats, attn_stats);
    optimizer.zero_grad();
    const ForwardOutput fwd = model->forward_loss(batch.inputs, batch.targets, LayerPlan{}, probes);
    const torch::Tensor& lm = fwd.loss;
    const torch::Tensor loss = fwd.aux_loss.defined() ? lm + fwd.aux_loss : lm;
    phases.forward = lap();
    loss.backward();
    std::vector<double> losses{lm.item<double>(),
                               fwd.aux_loss.defined() ? fwd.aux_loss.item<double>() : 0.0};
    phases.backward = lap();
    if (dist) {
      progress.comm_s = dist->reduce_gradients(params, share).seconds;
      for (double& v : losses) v *= share;
      dist->sum(losses);  // the global batch's token-weighted mean
      phases.allreduce = lap();
    }
    const double loss_value = losses[0];
    const double grad_norm = gradient_norm(params, fused);
    const double lr = lr_at(s, total_steps, tc.warmup_steps, tc.lr, tc.min_lr_ratio);

    const int64_t step = s + 1;
    // Adam's step size lr / (1 - beta1^t) must fit the float32 parameters.
    const double step_size = lr / (1.0 - std::pow(tc.beta1, double(step)));
    const char* problem = !std::isfinite(loss_value)  ? "the loss is not finite"
                          : !std::isfinite(grad_norm) ? "the gradient norm is not finite"
                          : !(step_size < double(std::numeric_limits<float>::max()))
                              ? "the AdamW step size overflows float32"
                              : nullptr;
    if (problem) {
      set_status(std::string("diverged: ") + problem + " at step " + std::to_string(step));
      result.outcome = TrainOutcome::Diverged;
      result.message = std::string("training diverged: ") + problem + " at step " +
                       std::to_string(step) + " (loss " + format_number(loss_value) +
                       ", gradient norm " + format_number(grad_norm) + ", lr " + format_number(lr) +
                       "); no update was applied" +
                       (result.last_checkpoint.empty()
                            ? std::string("; no checkpoint was written before it")
                            : "; the last good checkpoint is " + result.last_checkpoint.string());
      return result;
    }
    optimizer.step(lr, clip_scale(grad_norm, tc.grad_clip));
    phases.optimizer = lap();
    state.step = step;
    state.tokens_seen += int64_t(B) * T;
    summary.loss = loss_value;

    out.scalar(series::kLoss, step, loss_value);
    out.scalar(series::kAuxLoss, step, losses[1]);
    out.scalar(series::kLr, step, lr);
    out.scalar(series::kGradNorm, step, grad_norm);
    lap();  // the scalar rows above are bookkeeping, not statistics
    if (residual_stats) {
      MetricRows rows = residual_rows(fwd, fused);
      if (dist) rows_reduce(rows, share, *dist);
      out.rows(rows, step);
    }
    if (attn_stats) {
      MetricRows rows = attention_rows(fwd, batch.inputs.size(0), T);
      if (dist) rows_reduce(rows, share, *dist);
      out.rows(rows, step);
      if (root)
        out.rows(weight_rows(model, fused), step);  // the weights are the same on every rank
    }
    phases.statistics = lap();
    // Throughput includes the statistics (they are part of what a step costs), not evaluation.
    const double dt = seconds_since(t0);
    phases.total = dt;
    progress.phases = phases;
    out.scalar(series::kTokensPerS, step, double(B) * T / dt);
    progress.evaluated = false;
    if (step % tc.eval_every == 0 || step == total_steps) {
      const double v = evaluate_loss(model, data.val, int(tc.eval_batches), B, T, device, dist,
                                     options.stop_requested);
      if (!(std::isnan(v) && stopping())) {  // an evaluation cut short by a stop is not recorded
        out.scalar(series::kValLoss, step, v);
        out.scalar(series::kValPpl, step, std::exp(v));
        progress.val_loss = v;
        progress.evaluated = true;
        summary.val_loss = v;
      }
    }
    out.step_end(step);
    if ((tc.checkpoint_every > 0 && step % tc.checkpoint_every == 0) || step == last_step) {
      save();
    }

    // progress: smoothed throughput, ETA from the steps left
    const double tps = double(B) * T / dt;
    progress.tokens_per_s_step = tps;
    progress.tokens_per_s =
        progress.tokens_per_s == 0 ? tps : 0.9 * progress.tokens_per_s + 0.1 * tps;
    progress.step = step;
    progress.loss = loss_value;
    progress.lr = lr;
    progress.elapsed_s = seconds_since(t_start);
    const double per_step = progress.elapsed_s / double(step - first_step);
    progress.eta_s = per_step * double(last_step - step);
    if (options.on_progress) options.on_progress(progress);
    result.step = step;
    result.loss = loss_value;
    result.val_loss = progress.val_loss;
  }

  if (last_step < total_steps) {
    set_status("stopped");
    result.outcome = TrainOutcome::Stopped;
  } else {
    set_status("finished");
    result.outcome = TrainOutcome::Finished;
  }
  return result;
}

}  // namespace

TrainResult train_run(const TrainOptions& options) {
  std::optional<RunWriter> writer;
  try {
    return train_loop(options, writer);
  } catch (const StopDuringPreparation&) {
    TrainResult r;  // stopped before the run file existed: nothing to keep
    r.outcome = TrainOutcome::Stopped;
    r.message = "stopped while preparing the data";
    return r;
  } catch (const std::exception& e) {
    if (writer) {
      try {
        writer->set_status(std::string("failed: ") + e.what());
        if (std::optional<RunSummary> summary = run_summary_read(options.run_dir)) {
          summary->status = std::string("failed: ") + e.what();
          run_summary_write(options.run_dir, *summary);
        }
      } catch (const std::exception&) {
        // the original error is the one to report
      }
    }
    throw;
  }
}

}  // namespace dlab
