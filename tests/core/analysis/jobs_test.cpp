// The analysis jobs dlab analyze and dlab serve share (analysis/jobs.h).
#include "analysis/jobs.h"

#include <gtest/gtest.h>

#include <fstream>

#include "analysis_test_util.h"
#include "common/error.h"
#include "error_of.h"
#include "store/analysis_file.h"

namespace dlab {
namespace {

using test::error_of;

TEST(AnalysisJobs, NamesSelectExactlyTheirAnalyses) {
  AnalysisRequest r = analysis_request_for({"causal", "summaries"}, "--what");
  EXPECT_TRUE(r.causal && r.summaries);
  EXPECT_FALSE(r.permutation || r.usefulness || r.jacobian);
  r = analysis_request_for({"all"}, "--what");
  EXPECT_TRUE(r.causal && r.permutation && r.usefulness && r.jacobian && r.summaries);
  EXPECT_EQ(error_of([] {
              analysis_request_for({"causal", "melt"}, "body.analyses");
            }),
            "body.analyses: unknown analysis 'melt'; allowed: causal, permutation, usefulness, "
            "jacobian, summaries, all");
  EXPECT_EQ(error_of([] { analysis_request_for({}, "--what ''"); }), "--what '' names no analysis");
}

TEST(AnalysisJobs, PlansAreBuiltAndCheckedAgainstTheModel) {
  const ModelConfig cfg = test::tiny_config(4);
  Analyzer a(test::tiny_model(cfg), test::tiny_eval(cfg.vocab_size, 4));
  int between = 0;
  const LayerPlan plan = plan_build(
      a, {PlanOp{"skip", 1}, PlanOp{"swap", -1, 0, 3}, PlanOp{"linear", 2}}, [&] { ++between; });
  EXPECT_EQ(between, 3);  // before each operation (the server's cancellation point)
  // The same plan made by hand evaluates to the same loss.
  const LinearFit fit = a.linear_fit(2);
  LayerPlan by_hand;
  by_hand.skip(1).swap(0, 3).linear(
      2, LinearMap{fit.weight.to(torch::kFloat32), fit.bias.to(torch::kFloat32)});
  EXPECT_DOUBLE_EQ(a.evaluate(plan).loss, a.evaluate(by_hand).loss);
  EXPECT_THROW(plan_build(a, {PlanOp{"skip", 4}}), Error);  // position beyond L = 4
  EXPECT_THROW(plan_build(a, {PlanOp{"melt", 0}}), Error);
}

TEST(AnalysisJobs, StoringMergesWithTheEarlierAnalysesAndReplacesADamagedFile) {
  const ModelConfig cfg = test::tiny_config(3);
  Analyzer a(test::tiny_model(cfg), test::tiny_eval(cfg.vocab_size, 4));
  const std::filesystem::path dir = test::test_tmp_dir("jobs-store");
  const std::filesystem::path checkpoint = dir / "checkpoints" / "step-7.h5";
  AnalysisResult causal = a.analyze(analysis_request_for({"causal"}, "test"));
  causal.checkpoint = checkpoint.string();
  causal.step = 7;
  AnalysisResult perm = a.analyze(analysis_request_for({"permutation"}, "test"));
  perm.checkpoint = checkpoint.string();
  perm.step = 7;

  std::string why = "unset";
  const std::filesystem::path stored = analysis_store(causal, checkpoint, 7, &why);
  EXPECT_EQ(stored, dir / "analysis" / "step-7.h5");
  EXPECT_EQ(why, "");
  analysis_store(perm, checkpoint, 7, &why);
  const AnalysisResult both = analysis_from_file(analysis_file_read(stored));
  EXPECT_TRUE(both.causal.has_value()) << "the earlier analysis was lost";
  EXPECT_TRUE(both.permutation.has_value());

  std::ofstream(stored, std::ios::trunc) << "not an analysis file";
  analysis_store(perm, checkpoint, 7, &why);
  EXPECT_FALSE(why.empty()) << "a damaged file is replaced, and the reason given";
  const AnalysisResult fresh = analysis_from_file(analysis_file_read(stored));
  EXPECT_TRUE(fresh.permutation.has_value());
  EXPECT_FALSE(fresh.causal.has_value());
}

}  // namespace
}  // namespace dlab
