// runs/<name>/summary.json (store/run_summary.h): what a run list reads
// instead of run.h5, so it must round-trip and must never throw on a bad file.
#include "store/run_summary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>

#include "store_test_util.h"

namespace dlab {
namespace {

namespace fs = std::filesystem;

void text_put(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

TEST(RunSummary, RoundTripsWithLossesNotKnownYetAsNull) {
  const fs::path dir = test::test_dir("summary_round_trip");
  RunSummary s;
  s.status = "stopped";
  s.step = 12;
  s.total_steps = 40;
  s.loss = 2.5;  // val_loss not known yet
  run_summary_write(dir, s);
  EXPECT_FALSE(fs::exists(dir / "summary.json.tmp"));
  std::ifstream in(dir / "summary.json");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"val_loss\": null"), std::string::npos) << text;
  const std::optional<RunSummary> r = run_summary_read(dir);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, "stopped");
  EXPECT_EQ(r->step, 12);
  EXPECT_EQ(r->total_steps, 40);
  EXPECT_DOUBLE_EQ(r->loss, 2.5);
  EXPECT_TRUE(std::isnan(r->val_loss));
  s.status = "finished";  // rewritten in place
  s.val_loss = 2.75;
  run_summary_write(dir, s);
  EXPECT_EQ(run_summary_read(dir)->status, "finished");
  EXPECT_DOUBLE_EQ(run_summary_read(dir)->val_loss, 2.75);
}

TEST(RunSummary, AMissingDamagedOrHugeFileReadsAsNone) {
  const fs::path dir = test::test_dir("summary_bad");
  EXPECT_FALSE(run_summary_read(dir).has_value());  // none yet
  for (const std::string& text :
       {std::string("{\"status\": \"finished\", \"step\": 3"),            // cut short
        std::string("[1, 2]"),                                            // not an object
        std::string("{\"status\": 7, \"step\": 3, \"total_steps\": 4}"),  // mistyped
        std::string("{\"status\": \"x\", \"step\": 3.5, \"total_steps\": 4}"),
        std::string("{\"status\": \"x\", \"total_steps\": 4}"),  // no step
        std::string(2 * kRunSummaryMaxBytes, ' ')}) {            // larger than a summary
    text_put(dir / "summary.json", text);
    EXPECT_FALSE(run_summary_read(dir).has_value()) << text.substr(0, 60);
  }
  // A loss of another type reads as not known, the rest as written.
  text_put(dir / "summary.json",
           "{\"status\": \"running\", \"step\": 3, \"total_steps\": 4, \"loss\": \"x\"}");
  const std::optional<RunSummary> r = run_summary_read(dir);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->step, 3);
  EXPECT_TRUE(std::isnan(r->loss));
}

}  // namespace
}  // namespace dlab
