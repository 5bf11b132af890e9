// Training on CUDA (label gpu): the same run on the GPU and on the CPU gives
// the same losses, bf16 on CUDA trains, and a GPU-trained checkpoint resumes
// on the CPU. Skipped, with the reason, where this LibTorch has no CUDA or no
// GPU is visible (Debian's LibTorch is CPU-only: docs/gpu.md says how to
// build against a CUDA one).
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <cmath>

#include "../core/train/train_test_util.h"
#include "model/device.h"
#include "store/run_file.h"
#include "train/trainer.h"

namespace dlab {
namespace {

#define SKIP_WITHOUT_CUDA()                           \
  do {                                                \
    const std::string why = device_problem("cuda:0"); \
    if (!why.empty()) GTEST_SKIP() << why;            \
  } while (0)

SeriesData train_and_read(Config c, const std::string& name, const std::string& series = "loss") {
  c.run.name = name;
  TrainOptions o;
  o.config = c;
  o.run_dir = std::filesystem::path(c.run.dir) / name;
  const TrainResult r = train_run(o);
  EXPECT_EQ(r.outcome, TrainOutcome::Finished) << r.message;
  return RunReader::open(o.run_dir / "run.h5").read(series);
}

TEST(GpuTrain, TwentyFp32StepsOnCudaEqualTheCpuRun) {
  SKIP_WITHOUT_CUDA();
  const auto dir = testing::fresh_dir("gpu-vs-cpu");
  Config c = testing::tiny_config(dir, 20);
  c.train.kernels = "reference";  // the same ATen operations on both devices
  c.run.device = "cpu";
  const SeriesData cpu = train_and_read(c, "cpu");
  c.run.device = "cuda:0";
  const SeriesData gpu = train_and_read(c, "gpu");
  ASSERT_EQ(cpu.values.size(), 20u);
  ASSERT_EQ(gpu.values.size(), 20u);
  for (size_t i = 0; i < cpu.values.size(); ++i) {
    EXPECT_NEAR(gpu.values[i], cpu.values[i], 1e-4 * std::abs(cpu.values[i]))
        << "step " << cpu.steps[i];
  }
  // The statistics are recorded from the GPU run too, in float32.
  const SeriesData var = train_and_read(c, "gpu-stats", "resid_var");
  for (float v : var.values) EXPECT_TRUE(std::isfinite(v) && v > 0);
}

TEST(GpuTrain, Bf16OnCudaTrains) {
  SKIP_WITHOUT_CUDA();
  const auto dir = testing::fresh_dir("gpu-bf16");
  Config c = testing::tiny_config(dir, 40);
  c.run.device = "cuda";
  c.train.precision = "bf16";
  const SeriesData loss = train_and_read(c, "bf16");
  ASSERT_EQ(loss.values.size(), 40u);
  for (float v : loss.values) EXPECT_TRUE(std::isfinite(v));
  EXPECT_LT(loss.values.back(), loss.values.front() - 1.0) << "bf16 on CUDA did not learn";
}

TEST(GpuTrain, AGpuRunResumesOnTheCpu) {
  SKIP_WITHOUT_CUDA();
  const auto dir = testing::fresh_dir("gpu-resume-cpu");
  Config c = testing::tiny_config(dir, 12);
  c.run.device = "cuda";
  c.train.checkpoint_every = 6;
  TrainOptions o;
  o.config = c;
  o.run_dir = dir / c.run.name;
  o.stop_after = 6;
  ASSERT_EQ(train_run(o).outcome, TrainOutcome::Stopped);
  o.config.run.device = "cpu";
  o.resume = true;
  o.stop_after = 0;
  const TrainResult r = train_run(o);
  EXPECT_EQ(r.outcome, TrainOutcome::Finished) << r.message;
  EXPECT_EQ(r.step, 12);
}

}  // namespace
}  // namespace dlab
