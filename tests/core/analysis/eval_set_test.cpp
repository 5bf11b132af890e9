// Evaluation sets: first N windows or seeded random windows.
#include "analysis/eval_set.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "data/batching.h"

namespace dlab {
namespace {

std::vector<uint16_t> ramp(size_t n) {
  std::vector<uint16_t> t(n);
  for (size_t i = 0; i < n; ++i) t[i] = uint16_t(i % 1000);
  return t;
}

TEST(EvalSet, FirstWindowsAreConsecutiveAndDoNotOverlap) {
  const std::vector<uint16_t> tokens = ramp(100);
  EvalSetSpec spec;
  spec.samples = 3;
  spec.seq_len = 10;
  const EvalSet e = eval_set_make(tokens, spec, "ramp");
  ASSERT_EQ(e.inputs.sizes(), (std::vector<int64_t>{3, 10}));
  for (int w = 0; w < 3; ++w) {
    for (int t = 0; t < 10; ++t) {
      EXPECT_EQ(e.inputs[w][t].item<int64_t>(), w * 10 + t);
      EXPECT_EQ(e.targets[w][t].item<int64_t>(), w * 10 + t + 1);
    }
  }
  EXPECT_EQ(e.source_tokens, 100);
  EXPECT_NE(e.describe().find("first 3 windows of ramp"), std::string::npos) << e.describe();
}

TEST(EvalSet, TooManyFirstWindowsNamesTheOption) {
  EvalSetSpec spec;
  spec.samples = 10;
  spec.seq_len = 10;
  try {
    eval_set_make(ramp(100), spec, "ramp");  // (100-1)/10 = 9 windows
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("--samples 10"), std::string::npos) << msg;
    EXPECT_NE(msg.find("only 9"), std::string::npos) << msg;
  }
  spec.samples = 0;
  EXPECT_THROW(eval_set_make(ramp(100), spec, "ramp"), Error);
  spec.samples = 1;
  spec.seq_len = 100;
  EXPECT_THROW(eval_set_make(ramp(100), spec, "ramp"), Error);
}

TEST(EvalSet, RandomWindowsFollowTheSeed) {
  const std::vector<uint16_t> tokens = ramp(5000);
  EvalSetSpec spec;
  spec.samples = 20;  // more than fit without overlap is fine for random windows
  spec.seq_len = 16;
  spec.windows = EvalWindows::Random;
  spec.seed = 5;
  const EvalSet a = eval_set_make(tokens, spec, "ramp");
  const EvalSet b = eval_set_make(tokens, spec, "ramp");
  EXPECT_TRUE(torch::equal(a.inputs, b.inputs));
  EXPECT_TRUE(torch::equal(a.inputs, batch_eval_random(tokens, 0, 20, 16, 5).inputs));
  spec.seed = 6;
  EXPECT_FALSE(torch::equal(a.inputs, eval_set_make(tokens, spec, "ramp").inputs));
  // inputs and targets are shifted by one token
  EXPECT_TRUE(torch::equal(a.inputs.slice(1, 1), a.targets.slice(1, 0, 15)));
}

}  // namespace
}  // namespace dlab
