#include "data/batching.h"

#include <gtest/gtest.h>

#include <set>

#include "test_tmp.h"

namespace dlab {
namespace {

using test::error_of;

// tokens[i] = i, so a window's first input is its offset.
std::vector<uint16_t> iota_tokens(size_t n) {
  std::vector<uint16_t> t(n);
  for (size_t i = 0; i < n; ++i) t[i] = uint16_t(i);
  return t;
}

TEST(Batching, SampleIsDeterministicShiftedAndInRange) {
  const auto tokens = iota_tokens(10000);
  const int B = 8, T = 32;
  const Batch a = batch_sample(tokens, /*step=*/17, B, T, /*seed=*/1234);
  const Batch b = batch_sample(tokens, 17, B, T, 1234);
  ASSERT_EQ(a.inputs.sizes(), (std::vector<int64_t>{B, T}));
  ASSERT_EQ(a.targets.sizes(), (std::vector<int64_t>{B, T}));
  EXPECT_EQ(a.inputs.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(a.inputs, b.inputs));
  EXPECT_TRUE(torch::equal(a.targets, b.targets));
  EXPECT_FALSE(torch::equal(a.inputs, batch_sample(tokens, 18, B, T, 1234).inputs));
  EXPECT_FALSE(torch::equal(a.inputs, batch_sample(tokens, 17, B, T, 4321).inputs));

  // Targets are the inputs shifted by one inside one window of T+1 tokens.
  EXPECT_TRUE(torch::equal(a.targets, a.inputs + 1));
  for (int r = 0; r < B; ++r) {
    const int64_t offset = a.inputs[r][0].item<int64_t>();
    EXPECT_EQ(offset, batch_row_offset(tokens.size(), 17, r, T, 1234));
    EXPECT_GE(offset, 0);
    EXPECT_LE(offset + T, int64_t(tokens.size()) - 1);
  }
}

TEST(Batching, OffsetsCoverEveryStartAndNeverOverrun) {
  const int T = 16;
  // n = T + 1: exactly one window.
  const auto one = iota_tokens(T + 1);
  for (int step = 0; step < 20; ++step) {
    EXPECT_EQ(batch_sample(one, step, 4, T, 9).inputs[3][0].item<int64_t>(), 0);
  }
  // n = T + 5: five starts 0..4, all reached, none beyond.
  std::set<int64_t> seen;
  for (int step = 0; step < 200; ++step) {
    for (int r = 0; r < 4; ++r) seen.insert(batch_row_offset(T + 5, step, r, T, 9));
  }
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1, 2, 3, 4}));
}

TEST(Batching, RanksTogetherProduceExactlyTheSingleRankBatch) {
  const auto tokens = iota_tokens(5000);
  for (int world : {2, 3}) {
    const int B = 7, T = 10;
    const Batch whole = batch_sample(tokens, 5, B, T, 77);
    std::vector<torch::Tensor> ins, tgs;
    for (int rank = 0; rank < world; ++rank) {
      const Batch part = batch_sample(tokens, 5, B, T, 77, rank, world);
      EXPECT_GE(part.inputs.size(0), 1);
      ins.push_back(part.inputs);
      tgs.push_back(part.targets);
    }
    EXPECT_TRUE(torch::equal(torch::cat(ins), whole.inputs)) << "world " << world;
    EXPECT_TRUE(torch::equal(torch::cat(tgs), whole.targets)) << "world " << world;
  }
  EXPECT_NE(error_of([&] {
              batch_sample(tokens, 0, 2, 8, 1, 0, 4);
            }).find("train.batch_size=2 is smaller than the 4 ranks"),
            std::string::npos);
  EXPECT_NE(error_of([&] { batch_sample(tokens, 0, 8, 8, 1, 2, 2); }).find("rank 2"),
            std::string::npos);
}

TEST(Batching, EvalWindowsAreConsecutiveNonOverlappingAndWrap) {
  const int T = 10;
  const auto tokens = iota_tokens(95);  // (95 - 1) / 10 = 9 windows
  EXPECT_EQ(eval_window_count(tokens.size(), T), 9);
  EXPECT_EQ(eval_window_count(10, 10), 0);
  EXPECT_EQ(eval_window_count(11, 10), 1);

  const Batch all = batch_eval(tokens, 0, 9, T);
  std::set<int64_t> predicted;
  for (int w = 0; w < 9; ++w) {
    EXPECT_EQ(all.inputs[w][0].item<int64_t>(), int64_t(w) * T);
    for (int t = 0; t < T; ++t) {
      EXPECT_TRUE(predicted.insert(all.targets[w][t].item<int64_t>()).second)
          << "target predicted twice";
    }
  }
  EXPECT_EQ(predicted.size(), 90u);  // tokens 1..90, each once
  EXPECT_EQ(*predicted.begin(), 1);
  EXPECT_EQ(*predicted.rbegin(), 90);
  EXPECT_TRUE(torch::equal(all.targets, all.inputs + 1));

  const Batch wrapped = batch_eval(tokens, 8, 3, T);  // windows 8, 0, 1
  EXPECT_EQ(wrapped.inputs[0][0].item<int64_t>(), 80);
  EXPECT_EQ(wrapped.inputs[1][0].item<int64_t>(), 0);
  EXPECT_EQ(wrapped.inputs[2][0].item<int64_t>(), 10);
  EXPECT_TRUE(torch::equal(batch_eval(tokens, 2, 4, T).inputs, all.inputs.slice(0, 2, 6)));
}

TEST(Batching, RandomEvalIsSeededAndIndependentOfTraining) {
  const auto tokens = iota_tokens(20000);
  const Batch a = batch_eval_random(tokens, 3, 6, 16, 42);
  EXPECT_TRUE(torch::equal(a.inputs, batch_eval_random(tokens, 3, 6, 16, 42).inputs));
  EXPECT_FALSE(torch::equal(a.inputs, batch_eval_random(tokens, 4, 6, 16, 42).inputs));
  EXPECT_FALSE(torch::equal(a.inputs, batch_sample(tokens, 3, 6, 16, 42).inputs));
  EXPECT_TRUE(torch::equal(a.targets, a.inputs + 1));
}

TEST(Batching, TooShortDataNamesTheSizes) {
  const auto tokens = iota_tokens(100);
  EXPECT_EQ(error_of([&] { batch_sample(tokens, 0, 4, 128, 1); }),
            "batch_sample: the split has 100 tokens; data.seq_len=128 needs at least 129");
  EXPECT_NE(error_of([&] { batch_eval(tokens, 0, 4, 128); }).find("needs at least 129"),
            std::string::npos);
  EXPECT_NE(error_of([&] { batch_eval_random(tokens, 0, 4, 100, 1); }).find("needs at least 101"),
            std::string::npos);
  EXPECT_NE(error_of([&] { batch_sample(tokens, 0, 0, 8, 1); }).find("train.batch_size=0"),
            std::string::npos);
}

}  // namespace
}  // namespace dlab
