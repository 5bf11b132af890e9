// The training loop end to end on the real components: synthetic corpus,
// byte tokenizer, model, AdamW, HDF5 run file and checkpoints.
#include "train/trainer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>

#include "common/error.h"
#include "common/presets.h"
#include "kernels/gemm.h"
#include "store/checkpoint_file.h"
#include "store/run_file.h"
#include "train_test_util.h"

namespace dlab {
namespace {

using testing::fresh_dir;
using testing::tiny_config;

TrainResult train(const Config& c, bool resume = false, int64_t stop_after = 0,
                  const std::atomic<bool>* stop = nullptr) {
  TrainOptions o;
  o.config = c;
  o.run_dir = std::filesystem::path(c.run.dir) / c.run.name;
  o.resume = resume;
  o.stop_after = stop_after;
  o.stop_requested = stop;
  return train_run(o);
}

SeriesData series(const Config& c, const std::string& name) {
  return RunReader::open(std::filesystem::path(c.run.dir) / c.run.name / "run.h5").read(name);
}

TEST(Trainer, LossFallsAndEverySeriesIsWritten) {
  const auto dir = fresh_dir("falls");
  Config c = tiny_config(dir, 40);
  const TrainResult r = train(c);
  EXPECT_EQ(r.outcome, TrainOutcome::Finished);
  EXPECT_EQ(r.step, 40);
  // The untrained model predicts ~uniformly over 256 bytes: ln 256 = 5.545.
  EXPECT_NEAR(r.initial_val_loss, std::log(256.0), 0.25);
  EXPECT_LT(r.val_loss, r.initial_val_loss - 1.5) << "the synthetic corpus is easy to learn";

  const RunReader reader = RunReader::open(dir / "t" / "run.h5");
  EXPECT_EQ(reader.status(), "finished");
  const SeriesData loss = reader.read("loss");
  ASSERT_EQ(loss.steps.size(), 40u);
  EXPECT_EQ(loss.steps.front(), 1);
  EXPECT_EQ(loss.steps.back(), 40);
  const SeriesData var = reader.read("resid_var");
  EXPECT_EQ(var.width, 2);
  EXPECT_EQ(var.steps.size(), 40u);
  for (float v : var.values) EXPECT_GT(v, 0.0f);
  const SeriesData attn = reader.read("attn_entropy");
  EXPECT_EQ(attn.steps.size(), 14u);  // steps 1, 4, ..., 40 (every 3rd iteration)
  const SeriesData head = reader.read("attn_entropy_head");
  EXPECT_EQ(head.width, 2 * 4);  // L x H
  ASSERT_EQ(head.steps.size(), attn.steps.size());
  for (int layer = 0; layer < 2; ++layer) {  // the layer value is the mean of its heads
    double mean = 0;
    for (int h = 0; h < 4; ++h) mean += head.values[layer * 4 + h] / 4.0;
    EXPECT_NEAR(mean, attn.values[layer], 1e-5);
  }
  const SeriesData ws = reader.read("weight_sparsity_1e-2");
  EXPECT_EQ(ws.width, 3);  // 2 blocks + overall
  const SeriesData val = reader.read("val_loss");
  EXPECT_EQ(val.steps, (std::vector<int64_t>{0, 5, 10, 15, 20, 25, 30, 35, 40}));
  EXPECT_TRUE(std::filesystem::exists(dir / "t" / "checkpoints" / "step-40.h5"));
}

// 24 steps at once and 12 + 12 with a resume in between: every recorded value
// and every saved weight bit-identical.
void expect_resume_bit_identical(Config base, const std::string& tag) {
  Config whole = base;
  whole.run.name = "whole-" + tag;
  train(whole);

  Config parts = base;
  parts.run.name = "parts-" + tag;
  const TrainResult first = train(parts, /*resume=*/false, /*stop_after=*/12);
  EXPECT_EQ(first.outcome, TrainOutcome::Stopped);
  EXPECT_EQ(first.step, 12);
  const std::filesystem::path dir = base.run.dir;
  EXPECT_EQ(RunReader::open(dir / parts.run.name / "run.h5").status(), "stopped");
  const TrainResult second = train(parts, /*resume=*/true);
  EXPECT_EQ(second.outcome, TrainOutcome::Finished);

  for (const char* name : {"loss", "grad_norm", "lr", "val_loss", "resid_var", "kurtosis_flat",
                           "attn_entropy", "weight_sparsity_1e-3"}) {
    const SeriesData a = series(whole, name), b = series(parts, name);
    EXPECT_EQ(a.steps, b.steps) << name;
    ASSERT_EQ(a.values.size(), b.values.size()) << name;
    for (size_t i = 0; i < a.values.size(); ++i) {
      // bit-identical, not merely close
      ASSERT_EQ(a.values[i], b.values[i]) << name << " row " << i / a.width;
    }
  }
  const CheckpointData wa = checkpoint_read(dir / whole.run.name / "checkpoints" / "step-24.h5");
  const CheckpointData wb = checkpoint_read(dir / parts.run.name / "checkpoints" / "step-24.h5");
  ASSERT_EQ(wa.state_dict.size(), wb.state_dict.size());
  for (size_t i = 0; i < wa.state_dict.size(); ++i) {
    EXPECT_EQ(wa.state_dict[i].bytes, wb.state_dict[i].bytes) << wa.state_dict[i].name;
  }
}

TEST(Trainer, ResumeIsBitIdenticalToAnUninterruptedRun) {
  const auto dir = fresh_dir("resume");
  Config c = tiny_config(dir, 24);
  c.train.kernels = "reference";
  expect_resume_bit_identical(c, "reference");
}

// The fused kernels (the default) on two threads, the MoE path included:
// their results do not depend on how the work was split, so a resumed run is
// still the same run.
TEST(Trainer, ResumeIsBitIdenticalWithTheFusedKernelsOnTwoThreads) {
  const auto dir = fresh_dir("resume-fused");
  Config c = tiny_config(dir, 24);
  c.train.kernels = "fused";
  c.train.threads = 2;
  c.data.seq_len = 80;  // two attention tiles
  expect_resume_bit_identical(c, "dense");
  c.model.moe.n_experts = 4;
  c.model.moe.n_shared_experts = 1;
  c.model.norm_scaling = "layernorm_scaling";
  expect_resume_bit_identical(c, "moe");
}

// train.precision = bf16 trains (bf16 matrix products, float32 everything
// else) and records float32 statistics: values a bf16 computation could not
// have produced.
TEST(Trainer, Bf16RunOfTheTinyPresetTrainsAndRecordsFloat32Statistics) {
  if (!kernels::gemm_bf16_supported()) GTEST_SKIP() << "no bf16 matrix products on this CPU";
  const auto dir = fresh_dir("bf16");
  Config c = preset_load("tiny");
  c.run.dir = dir.string();
  c.data.cache_dir = (dir / "cache").string();
  c.train.precision = "bf16";
  const TrainResult r = train(c);
  EXPECT_EQ(r.outcome, TrainOutcome::Finished);
  EXPECT_LT(r.val_loss, r.initial_val_loss - 1.0) << "the loss falls under bf16 products";
  auto bf16_exact = [](float v) { return float(c10::BFloat16(v)) == v; };
  for (const char* name : {"resid_var", "kurtosis_token", "attn_entropy", "grad_norm"}) {
    const SeriesData s = series(c, name);
    ASSERT_FALSE(s.values.empty()) << name;
    size_t not_bf16 = 0;
    for (float v : s.values) not_bf16 += bf16_exact(v) ? 0 : 1;
    EXPECT_GT(not_bf16, s.values.size() / 2) << name << ": values look bf16-rounded";
  }
  // the same run in fp32 lands close by
  Config f = c;
  f.run.name = "tiny-fp32";
  f.train.precision = "fp32";
  const TrainResult r32 = train(f);
  EXPECT_NEAR(r.val_loss, r32.val_loss, 0.05 * r32.val_loss);
}

TEST(Trainer, KernelsAndPrecisionAreValidated) {
  const auto dir = fresh_dir("exec-invalid");
  Config c = tiny_config(dir, 3);
  c.train.kernels = "fast";
  try {
    train(c);
    FAIL() << "expected dlab::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.kernels"), std::string::npos) << e.what();
  }
  c.train.kernels = "fused";
  c.train.precision = "fp16";
  try {
    train(c);
    FAIL() << "expected dlab::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.precision"), std::string::npos) << e.what();
  }
}

TEST(Trainer, DivergenceStopsWithAClearMessageAndKeepsTheLastCheckpoint) {
  const auto dir = fresh_dir("diverge");
  Config c = tiny_config(dir, 60);
  c.train.lr = 1e10;  // absurd but finite: the second forward pass overflows
  c.train.grad_clip = 0;
  c.train.warmup_steps = 0;
  c.train.checkpoint_every = 1;
  c.train.weight_decay = 0;
  const TrainResult r = train(c);
  ASSERT_EQ(r.outcome, TrainOutcome::Diverged);
  EXPECT_NE(r.message.find("training diverged"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("at step " + std::to_string(r.step + 1)), std::string::npos)
      << r.message;
  const std::string status = RunReader::open(dir / "t" / "run.h5").status();
  EXPECT_EQ(status.rfind("diverged: the loss is not finite at step", 0), 0u) << status;
  ASSERT_GE(r.step, 1) << "the first update is still finite";
  // the last good checkpoint opens and holds the state after the last finite update
  const CheckpointData last = checkpoint_read(r.last_checkpoint);
  EXPECT_EQ(last.step, r.step);
  EXPECT_NE(r.message.find(r.last_checkpoint.string()), std::string::npos) << r.message;
}

TEST(Trainer, StopRequestCheckpointsAndResumeFinishes) {
  const auto dir = fresh_dir("stop");
  Config c = tiny_config(dir, 10);
  std::atomic<bool> stop{false};
  TrainOptions o;
  o.config = c;
  o.run_dir = dir / "t";
  o.stop_requested = &stop;
  o.on_progress = [&](const TrainProgress& p) {
    if (p.step == 3) stop = true;
  };
  const TrainResult r = train_run(o);
  EXPECT_EQ(r.outcome, TrainOutcome::Stopped);
  EXPECT_EQ(r.step, 3);
  EXPECT_TRUE(std::filesystem::exists(dir / "t" / "checkpoints" / "step-3.h5"));
  const TrainResult done = train(c, /*resume=*/true);
  EXPECT_EQ(done.outcome, TrainOutcome::Finished);
  EXPECT_EQ(done.step, 10);
}

// Issue 13, 4: stop is honoured inside data preparation and evaluation, not
// only between steps (an evaluation of 100,000 batches ends within one batch).
TEST(Trainer, StopIsHonouredDuringDataPreparationAndEvaluation) {
  const auto dir = fresh_dir("stop-early");
  Config c = tiny_config(dir, 10);
  std::atomic<bool> stop{true};  // before anything: the run ends in data preparation
  const TrainResult early = train(c, false, 0, &stop);
  EXPECT_EQ(early.outcome, TrainOutcome::Stopped);
  EXPECT_EQ(early.step, 0);
  EXPECT_FALSE(std::filesystem::exists(dir / "t" / "run.h5"));

  c.train.eval_batches = 100000;  // an evaluation of hours, at step 0
  c.run.name = "long-eval";
  std::atomic<bool> later{false};
  TrainOptions o;
  o.config = c;
  o.run_dir = dir / c.run.name;
  o.stop_requested = &later;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    later = true;
  });
  const auto t0 = std::chrono::steady_clock::now();
  const TrainResult r = train_run(o);
  stopper.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.outcome, TrainOutcome::Stopped);
  EXPECT_LT(s, 10.0) << "the stop waited for the whole evaluation";
  EXPECT_TRUE(std::filesystem::exists(dir / c.run.name / "checkpoints" / "step-0.h5"));
  EXPECT_TRUE(RunReader::open(dir / c.run.name / "run.h5").read("val_loss").steps.empty())
      << "a cut-short evaluation is not recorded";
}

// A folder with neither a checkpoint nor a run file holds no run to resume.
// (A run.h5 without a checkpoint starts again at step 0: the kill-anywhere
// tests, tests/fault.)
TEST(Trainer, ResumeOfAFolderWithoutARunIsAClearError) {
  const auto dir = fresh_dir("nockpt");
  Config c = tiny_config(dir, 5);
  try {
    train(c, /*resume=*/true);
    FAIL() << "expected dlab::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot resume its run"), std::string::npos) << e.what();
  }
}

TEST(Trainer, MoeRunWritesRoutingSeries) {
  const auto dir = fresh_dir("moe");
  Config c = tiny_config(dir, 6);
  c.model.moe.n_experts = 4;
  c.model.moe.top_k = 2;
  c.model.moe.d_expert = 32;
  const TrainResult r = train(c);
  EXPECT_EQ(r.outcome, TrainOutcome::Finished);
  const SeriesData f = series(c, "moe_expert_fraction");
  EXPECT_EQ(f.width, 2 * 4);
  ASSERT_EQ(f.steps.size(), 6u);
  for (int layer = 0; layer < 2; ++layer) {  // each layer's fractions sum to 1
    double sum = 0;
    for (int e = 0; e < 4; ++e) sum += f.values[layer * 4 + e];
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  const SeriesData aux = series(c, "aux_loss");
  EXPECT_GT(aux.values.front(), 0.0f);
}

}  // namespace
}  // namespace dlab
