// Checkpoint files: round trips of every dtype and shape, names with dots and
// slashes, atomic writes, listing.
#include "store/checkpoint_file.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <thread>

#include "common/error.h"
#include "store_test_util.h"

namespace dlab {
namespace {

namespace fs = std::filesystem;

Array f32_array(const std::string& name, const std::vector<int64_t>& shape, float base) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = base + 0.25f * float(i);
  return Array::from_f32(name, shape, v.data());
}

CheckpointData sample() {
  CheckpointData d;
  d.step = 1234;
  d.config_json = R"({"model": {"n_layers": 2, "d_model": 8}})";
  d.tokenizer_kind = "byte";
  d.tokenizer_model = "";  // the byte tokenizer has no model
  d.metadata_json = R"({"loss": 3.25, "torch": "1.13"})";
  d.state_dict.push_back(f32_array("model.embed_tokens.weight", {16, 8}, 1.0f));
  d.state_dict.push_back(f32_array("model.layers.0.self_attn.q_proj.weight", {8, 8}, 2.0f));
  d.state_dict.push_back(f32_array("model.layers.0.input_layernorm.weight", {8}, 3.0f));
  d.state_dict.push_back(f32_array("a.scalar", {}, 4.0f));
  d.state_dict.push_back(f32_array("a.empty", {0, 8}, 0.0f));
  d.state_dict.push_back(f32_array("a.rank3", {2, 3, 4}, 5.0f));
  d.state_dict.push_back(f32_array("lm_head.weight", {16, 8}, 6.0f));  // after "a.*": order kept
  const std::vector<double> f64 = {1.5, -2.5, 1e300};
  const std::vector<int64_t> i64 = {-1, 0, int64_t(1) << 62};
  const std::vector<uint8_t> u8 = {0, 7, 255, 0};
  d.optimizer.push_back(f32_array("exp_avg/model.embed_tokens.weight", {16, 8}, 7.0f));
  d.optimizer.push_back(f32_array("exp_avg_sq/model.embed_tokens.weight", {16, 8}, 8.0f));
  d.optimizer.push_back(f32_array("exp_avg/lm_head.weight", {16, 8}, 9.0f));
  d.optimizer.push_back(Array::from_f64("extra/f64", {3}, f64.data()));
  d.optimizer.push_back(Array::from_i64("extra/deep/i64", {3, 1}, i64.data()));
  d.optimizer.push_back(Array::from_u8("u8", {2, 2}, u8.data()));
  d.optimizer.push_back(Array::from_i64("step", {}, &i64[2]));
  d.rng_state = {1, 2, 3, 0, 255};
  d.counters = {{"tokens_seen", int64_t(1) << 40}, {"data_cursor", 77}, {"adam_t", -3}};
  return d;
}

void expect_same_array(const Array& a, const Array& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.dtype, b.dtype) << a.name;
  EXPECT_EQ(a.shape, b.shape) << a.name;
  EXPECT_EQ(a.bytes, b.bytes) << a.name;
}

void expect_same(const CheckpointData& a, const CheckpointData& b, bool with_optimizer = true) {
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.config_json, b.config_json);
  EXPECT_EQ(a.tokenizer_kind, b.tokenizer_kind);
  EXPECT_EQ(a.tokenizer_model, b.tokenizer_model);
  EXPECT_EQ(a.metadata_json, b.metadata_json);
  EXPECT_EQ(a.rng_state, b.rng_state);
  EXPECT_EQ(a.counters, b.counters);
  ASSERT_EQ(a.state_dict.size(), b.state_dict.size());
  for (size_t i = 0; i < a.state_dict.size(); ++i)
    expect_same_array(a.state_dict[i], b.state_dict[i]);
  if (!with_optimizer) return;
  // Optimizer arrays come back grouped by name prefix; compare by name.
  ASSERT_EQ(a.optimizer.size(), b.optimizer.size());
  for (const Array& x : a.optimizer) {
    const auto it = std::find_if(b.optimizer.begin(), b.optimizer.end(),
                                 [&](const Array& y) { return y.name == x.name; });
    ASSERT_NE(it, b.optimizer.end()) << x.name;
    expect_same_array(x, *it);
  }
}

TEST(CheckpointFile, RoundTripEveryDtypeAndShape) {
  const fs::path path = test::test_dir("ckpt_roundtrip") / "checkpoints" / "step-1234.h5";
  const CheckpointData d = sample();
  checkpoint_write(path, d);
  const CheckpointData r = checkpoint_read(path);
  expect_same(d, r);
  // Depth-first, each level in the order written.
  std::vector<std::string> names;
  for (const Array& a : r.optimizer) names.push_back(a.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"exp_avg/model.embed_tokens.weight", "exp_avg/lm_head.weight",
                                      "exp_avg_sq/model.embed_tokens.weight", "extra/f64",
                                      "extra/deep/i64", "u8", "step"}));
  EXPECT_EQ(r.state_dict[3].numel(), 1);
  EXPECT_EQ(r.state_dict[3].f32()[0], 4.0f);
  EXPECT_EQ(r.state_dict[4].numel(), 0);
}

TEST(CheckpointFile, ReadWithoutOptimizerAndListNames) {
  const fs::path path = test::test_dir("ckpt_noopt") / "step-1234.h5";
  const CheckpointData d = sample();
  checkpoint_write(path, d);
  const CheckpointData r = checkpoint_read(path, /*with_optimizer=*/false);
  EXPECT_TRUE(r.optimizer.empty());
  expect_same(d, r, /*with_optimizer=*/false);
  std::vector<std::string> expect;
  for (const Array& a : d.state_dict) expect.push_back(a.name);
  EXPECT_EQ(checkpoint_state_names(path), expect);
}

TEST(CheckpointFile, BinaryTokenizerModelAndEmptyEverything) {
  const fs::path dir = test::test_dir("ckpt_binary");
  CheckpointData d;
  d.tokenizer_kind = "sentencepiece";
  d.tokenizer_model = std::string("\0\x01\xff model\0bytes", 15);
  checkpoint_write(dir / "a.h5", d);
  expect_same(d, checkpoint_read(dir / "a.h5"));

  CheckpointData empty;  // no tensors, no tokenizer, no RNG, no counters
  checkpoint_write(dir / "b.h5", empty);
  expect_same(empty, checkpoint_read(dir / "b.h5"));
}

TEST(CheckpointFile, ArrayViewsCheckTheDtype) {
  const std::vector<double> v = {1.0, 2.0};
  const Array a = Array::from_f64("x", {2}, v.data());
  EXPECT_EQ(a.bytes.size(), 16u);
  EXPECT_EQ(a.f64()[1], 2.0);
  EXPECT_THROW(a.f32(), Error);
  EXPECT_THROW(a.i64(), Error);
  EXPECT_EQ(dtype_size(DType::U8), 1u);
  EXPECT_STREQ(dtype_name(DType::I64), "int64");
}

TEST(CheckpointFile, BadNamesAreRefusedAndLeaveNoFile) {
  const fs::path dir = test::test_dir("ckpt_names");
  auto refused = [&](CheckpointData d) {
    EXPECT_THROW(checkpoint_write(dir / "x.h5", d), Error);
    EXPECT_FALSE(fs::exists(dir / "x.h5"));
    EXPECT_FALSE(fs::exists(dir / "x.h5.tmp"));
  };
  CheckpointData d;
  d.state_dict = {f32_array("model.a/b", {1}, 0)};
  refused(d);
  d.state_dict = {f32_array("dup", {1}, 0), f32_array("dup", {1}, 0)};
  refused(d);
  d.state_dict = {};
  d.optimizer = {f32_array("exp_avg//x", {1}, 0)};
  refused(d);
  d.optimizer = {f32_array("a", {1}, 0), f32_array("a/b", {1}, 0)};
  refused(d);
  d.optimizer = {};
  Array bad = f32_array("short", {4}, 0);
  bad.bytes.resize(12);
  d.state_dict = {bad};
  refused(d);
}

TEST(CheckpointFile, AtomicWriteReplacesAndLeavesNoTemporary) {
  const fs::path run = test::test_dir("ckpt_atomic");
  const fs::path path = run / "checkpoints" / "step-10.h5";
  CheckpointData d = sample();
  checkpoint_write(path, d);
  d.step = 10;
  d.state_dict[0] = f32_array("model.embed_tokens.weight", {16, 8}, -1.0f);
  checkpoint_write(path, d);  // replaces
  expect_same(d, checkpoint_read(path));
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(path.parent_path())) {
    files.push_back(e.path().filename().string());
  }
  EXPECT_EQ(files, (std::vector<std::string>{"step-10.h5"}));

  // A failed write keeps the previous complete file under the real name.
  CheckpointData broken = d;
  broken.state_dict.push_back(f32_array("x/y", {1}, 0));
  EXPECT_THROW(checkpoint_write(path, broken), Error);
  expect_same(d, checkpoint_read(path));
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
}

// A process killed while writing checkpoints (again and again, so the kill
// lands mid-write most of the time) never leaves a partial file under the real
// name: whatever is there reads back complete.
TEST(CheckpointFile, KilledWriterNeverLeavesAPartialFile) {
  const fs::path run = test::test_dir("ckpt_kill");
  const fs::path path = run / "checkpoints" / "step-1234.h5";  // sample().step
  CheckpointData d = sample();
  d.state_dict.push_back(f32_array("big", {512, 1024}, 0.0f));  // 2 MiB
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (;;) checkpoint_write(path, d);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(fs::exists(path)) << "the child wrote nothing in 400 ms";
  expect_same(d, checkpoint_read(path));
  // A leftover .tmp (when the kill came mid-write) is not a checkpoint.
  const auto list = checkpoint_list(run);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].first, 1234);
}

TEST(CheckpointFile, ListSortsByStepAndIgnoresOtherFiles) {
  const fs::path run = test::test_dir("ckpt_list");
  EXPECT_TRUE(checkpoint_list(run).empty());  // no checkpoints/ yet
  CheckpointData d;
  for (int64_t step : {100, 2, 10}) {
    d.step = step;
    checkpoint_write(run / "checkpoints" / ("step-" + std::to_string(step) + ".h5"), d);
  }
  for (const char* other : {"step-5.h5.tmp", "notes.txt", "step-x.h5", "step-.h5", "step-7.h5x"}) {
    test::file_put(run / "checkpoints" / other, {'x'});
  }
  fs::create_directories(run / "checkpoints" / "step-3.h5");  // a directory, not a file
  const auto list = checkpoint_list(run);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].first, 2);
  EXPECT_EQ(list[1].first, 10);
  EXPECT_EQ(list[2].first, 100);
  EXPECT_EQ(list[2].second, run / "checkpoints" / "step-100.h5");
}

}  // namespace
}  // namespace dlab
