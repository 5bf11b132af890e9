#include <gtest/gtest.h>

#include "common/config_io.h"
#include "common/error.h"
#include "validation_cases.h"

namespace dlab {
namespace {

using testing::valid_base;
using testing::validation_cases;

TEST(ConfigValidate, BaseIsValid) {
  EXPECT_EQ(config_validate(valid_base()), std::vector<std::string>{});
}

TEST(ConfigValidate, EveryCaseGivesItsExactMessage) {
  for (const auto& c : validation_cases()) {
    Config config = valid_base();
    for (const std::string& s : c.sets) config_set(config, s);
    std::string input;
    for (const std::string& s : c.sets) input += " --set " + s;
    EXPECT_EQ(config_validate(config), std::vector<std::string>{c.message}) << input;
  }
}

TEST(ConfigValidate, BoundaryValuesAreValid) {
  const std::vector<std::vector<std::string>> valid = {
      {"run.device=cuda"},
      {"run.device=cuda:0"},
      {"run.device=cuda:12"},
      {"model.n_kv_heads=1"},  // MQA
      {"model.n_kv_heads=2"},  // GQA
      {"data.tokenizer=bpe", "model.vocab_size=300"},
      {"data.tokenizer=bpe", "model.vocab_size=65536"},
      {"data.tokenizer=/models/sp.model", "model.vocab_size=32000"},
      {"data.corpus=@demo"},
      {"data.corpus=/data/text"},
      {"data.val_fraction=0.5"},
      {"model.moe.n_experts=8", "model.moe.top_k=8", "model.moe.n_shared_experts=1"},
      {"model.moe.n_experts=8", "model.moe.top_k=1", "model.moe.d_expert=0"},
      {"model.moe.top_k=0"},  // top_k is unused by a dense model
      {"model.norm_scaling=layernorm_scaling", "model.init=scaled"},
      {"train.warmup_steps=100"},
      {"train.warmup_steps=0"},
      {"train.min_lr_ratio=0"},
      {"train.min_lr_ratio=1"},
      {"train.beta1=0"},
      {"train.weight_decay=0", "train.grad_clip=0"},
      {"train.steps=0", "train.tokens=1", "train.warmup_steps=1"},
      {"train.checkpoint_every=0", "train.threads=0"},
      {"run.name=" + std::string(100, 'r')},  // the longest name
      {"run.name=Läufe-β"},                   // printable UTF-8
      {"run.dir=My Runs/2026"},               // spaces are fine in the parent path
      {"model.n_layers=1024", "model.d_model=65536", "model.n_heads=1024", "model.n_kv_heads=1024"},
      {"train.steps=0", "train.tokens=1000000000000000"},
  };
  for (const auto& sets : valid) {
    Config config = valid_base();
    for (const std::string& s : sets) config_set(config, s);
    EXPECT_EQ(config_validate(config), std::vector<std::string>{}) << sets.front();
  }
}

// Issue 13, 1: a head count near INT_MAX made validation loop over its
// divisors until the counter wrapped to 0 (SIGFPE, and the server died with it).
TEST(ConfigValidate, HugeHeadCountIsRefusedNotAnArithmeticFault) {
  Config c = valid_base();
  c.model.n_heads = 2147483647;
  const std::vector<std::string> problems = config_validate(c);
  ASSERT_FALSE(problems.empty());
  EXPECT_EQ(problems.front(),
            "model.n_heads=2147483647 exceeds the limit of 1024; use at most 1024");
  c.model.n_kv_heads = 2147483647;
  EXPECT_FALSE(config_validate(c).empty());
}

// Issue 13, 2: a NUL byte in run.name (possible through JSON's \u0000) cut the
// path short, so the run directory claim spun forever on "runs/.."; control
// characters and Unicode whitespace are refused as well.
TEST(ConfigValidate, NamesWithNulControlOrUnicodeSpacesAreRefused) {
  for (const std::string& name :
       {std::string("..\0x", 4), std::string("a\0b", 3), std::string("tab\tname"),
        std::string("nb\xc2\xa0sp"), std::string("line\xe2\x80\xa8sep"), std::string("\xc0\xaf")}) {
    Config c = valid_base();
    c.run.name = name;
    const std::vector<std::string> problems = config_validate(c);
    ASSERT_EQ(problems.size(), 1u) << name;
    EXPECT_EQ(problems[0].rfind("run.name=", 0), 0u) << problems[0];
    EXPECT_EQ(problems[0].find('\0'), std::string::npos) << "messages never carry the NUL";
  }
  Config c = valid_base();
  c.run.dir = std::string("runs\0/etc", 9);
  EXPECT_EQ(config_validate(c).size(), 1u);
}

TEST(ConfigValidate, TokenBudgetsNeverOverflowTheStepCount) {
  Config c = valid_base();
  c.train.steps = 0;
  c.train.tokens = 1000000000000000;
  c.train.batch_size = 1;
  c.data.seq_len = 1;
  EXPECT_EQ(c.train.total_steps(c.data.seq_len), 1000000000000000);
  c.train.tokens = INT64_MAX;  // refused by validation; the arithmetic stays exact anyway
  c.train.batch_size = 3;
  EXPECT_EQ(c.train.total_steps(1), INT64_MAX / 3 + 1);
  c.train.batch_size = 0;
  EXPECT_EQ(c.train.total_steps(1), 0);
}

TEST(ConfigValidate, ReportsEveryProblemInSchemaOrder) {
  Config config = valid_base();
  config_set(config, "train.lr=-1");
  config_set(config, "model.n_layers=0");
  config_set(config, "run.name=");
  const std::vector<std::string> expected = {
      "run.name= is empty; use a directory name of at most 100 printable characters without '/' or "
      "whitespace",
      "model.n_layers=0 is not positive; use 1 or more",
      "train.lr=-1 is not a finite positive number; use a peak learning rate such as 3e-3"};
  EXPECT_EQ(config_validate(config), expected);
}

TEST(ConfigCheck, ThrowsAllProblemsOnePerLine) {
  Config config = valid_base();
  config_set(config, "model.n_layers=0");
  config_set(config, "train.beta1=1");
  try {
    config_check(config);
    FAIL() << "config_check accepted an invalid config";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "invalid config:\n"
              "  model.n_layers=0 is not positive; use 1 or more\n"
              "  train.beta1=1 is outside [0, 1); use a decay rate such as 0.9");
  }
  EXPECT_NO_THROW(config_check(valid_base()));
}

TEST(ConfigValidate, DefaultConfigNeedsATrainingBudget) {
  const std::vector<std::string> expected = {
      "train.steps=0 and train.tokens=0 are both zero; set exactly one of them > 0 (the steps to "
      "run, or a token budget)"};
  EXPECT_EQ(config_validate(Config{}), expected);
}

TEST(TrainConfig, TotalStepsFromStepsOrTokens) {
  TrainConfig t;
  t.batch_size = 8;
  t.steps = 123;
  EXPECT_EQ(t.total_steps(/*seq_len=*/64), 123);
  t.steps = 0;
  t.tokens = 8 * 64 * 10;  // exactly 10 steps
  EXPECT_EQ(t.total_steps(64), 10);
  t.tokens += 1;  // one token more needs one more step
  EXPECT_EQ(t.total_steps(64), 11);
  t.tokens = 2'000'000;
  t.batch_size = 16;
  EXPECT_EQ(t.total_steps(128), 977);  // the lab-scale presets
  EXPECT_EQ(t.total_steps(512), 245);
}

}  // namespace
}  // namespace dlab
