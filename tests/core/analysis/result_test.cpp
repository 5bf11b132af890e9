// JSON keys and the analysis file (write, read back, merge).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "analysis/analyzer.h"
#include "analysis_test_util.h"
#include "common/error.h"
#include "store/analysis_codec.h"
#include "store/analysis_file.h"

namespace dlab {
namespace {

AnalysisResult full_result(int n_layers = 3) {
  ModelConfig cfg = test::tiny_config(n_layers);
  cfg.moe.n_experts = 3;
  cfg.moe.top_k = 1;
  Transformer m = test::tiny_model(cfg);
  AnalyzerOptions o;
  o.batch_size = 3;
  Analyzer a(m, test::tiny_eval(cfg.vocab_size, 4), o);
  AnalysisRequest req;
  req.jacobian_samples = 1;
  req.token_sequence = 1;
  req.token_position = 2;
  AnalysisResult r = a.analyze(req);
  r.checkpoint = "runs/x/checkpoints/step-5.h5";
  r.step = 5;
  return r;
}

TEST(AnalysisJson, HasEveryKeyWithItsShape) {
  const AnalysisResult r = full_result();
  const nlohmann::json j = nlohmann::json::parse(analysis_to_json(r));
  const size_t L = 3;
  for (const char* key : {"loss", "causal_score", "permutation_score", "usefulness_score"}) {
    ASSERT_TRUE(j.contains(key)) << key;
    EXPECT_TRUE(j[key].is_number()) << key;
  }
  EXPECT_EQ(j["n_layers"], 3);
  EXPECT_EQ(j["samples"], 4);
  EXPECT_EQ(j["seq_len"], 8);
  EXPECT_EQ(j["first"], 4);  // the first 4 windows (no seed)
  EXPECT_FALSE(j.contains("seed"));
  EXPECT_TRUE(j["useful_layers"].is_number_integer());
  for (const char* key : {"causal_matrix", "permutation_matrix"}) {
    ASSERT_EQ(j[key].size(), L) << key;
    for (const auto& row : j[key]) EXPECT_EQ(row.size(), L) << key;
  }
  for (const char* key :
       {"usefulness_ratio", "jacobian_deviation", "jacobian_offdiag", "jacobian_diag_mean",
        "jacobian_diag_std", "jacobian_spectral", "jacobian_frobenius", "block_influence",
        "linear_loss", "removal_order", "token_jacobian_deviation"}) {
    ASSERT_TRUE(j.contains(key)) << key;
    EXPECT_EQ(j[key].size(), L) << key;
  }
  for (const char* key : {"logit_lens_loss", "residual_variance"}) {
    ASSERT_TRUE(j.contains(key)) << key;
    EXPECT_EQ(j[key].size(), L + 1) << key;
  }
  EXPECT_EQ(j["loss_after_removal"].size(), L - 1);
  EXPECT_EQ(j["angular_distance"].size(), L + 1);
  EXPECT_EQ(j["layer_similarity"].size(), L + 1);
  EXPECT_EQ(j["expert_load"].size(), L);
  EXPECT_EQ(j["expert_load"][0].size(), 3u);
  EXPECT_EQ(j["tau"], 0.1);
  EXPECT_EQ(j["transpose_quirk"], false);
  EXPECT_EQ(j["heldout_fit"], false);
  EXPECT_EQ(j["step"], 5);
  EXPECT_EQ(j["checkpoint"], "runs/x/checkpoints/step-5.h5");

  // A random evaluation set reports its seed instead; analyses not run are absent.
  AnalysisResult partial;
  partial.n_layers = 2;
  partial.eval.windows = EvalWindows::Random;
  partial.eval.seed = 9;
  const nlohmann::json p = nlohmann::json::parse(analysis_to_json(partial));
  EXPECT_EQ(p["seed"], 9);
  EXPECT_FALSE(p.contains("first"));
  EXPECT_FALSE(p.contains("causal_matrix"));
}

TEST(AnalysisFile, RoundTripsEveryKey) {
  AnalysisResult r = full_result();
  const auto dir = test::test_tmp_dir("file");
  const auto path = analysis_file_path(dir, r.step);
  analysis_file_write(path, analysis_to_file(r));
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  const AnalysisFileData f = analysis_file_read(path);
  EXPECT_EQ(f.step, 5);
  EXPECT_EQ(f.ints.at("samples"), 4);
  EXPECT_EQ(f.texts.at("windows"), "first");
  AnalysisResult back = analysis_from_file(f);
  r.seconds.clear();  // timings are not stored
  EXPECT_EQ(analysis_to_json(back), analysis_to_json(r));
  ASSERT_EQ(back.jacobian->matrix.size(), 3u);
  for (size_t l = 0; l < 3; ++l) {
    EXPECT_TRUE(torch::equal(back.jacobian->matrix[l], r.jacobian->matrix[l]));
    EXPECT_TRUE(torch::equal(back.token_jacobian->matrix[l], r.token_jacobian->matrix[l]));
  }
  // The datasets are in the order written; the Jacobians are a group.
  EXPECT_EQ(f.arrays.front().name, "loss");
  bool found = false;
  for (const Array& a : f.arrays) {
    if (a.name == "jacobian/2") {
      found = true;
      EXPECT_EQ(a.shape, (std::vector<int64_t>{16, 16}));
      EXPECT_EQ(a.dtype, DType::F32);
    }
  }
  EXPECT_TRUE(found);
  const auto list = analysis_file_list(dir);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].first, 5);
}

// The codec a remote worker's analysis travels in (store/analysis_codec.h):
// file -> JSON -> arrays -> file gives back every key, shape, dtype and byte,
// the Jacobian matrices included.
TEST(AnalysisCodec, RoundTripsAFileThroughJsonExactly) {
  const AnalysisResult r = full_result();
  const auto dir = test::test_tmp_dir("codec");
  const auto first = dir / "first.h5";
  analysis_file_write(first, analysis_to_file(r));
  const AnalysisFileData read = analysis_file_read(first);
  const AnalysisFileData back = analysis_file_from_json(analysis_file_to_json(read));
  const auto second = dir / "second.h5";
  analysis_file_write(second, back);
  const AnalysisFileData again = analysis_file_read(second);
  for (const AnalysisFileData* d : {&back, &again}) {
    EXPECT_EQ(d->step, read.step);
    EXPECT_EQ(d->checkpoint, read.checkpoint);
    EXPECT_EQ(d->texts, read.texts);
    EXPECT_EQ(d->ints, read.ints);
    EXPECT_EQ(d->reals, read.reals);
    ASSERT_EQ(d->arrays.size(), read.arrays.size());
    for (size_t i = 0; i < read.arrays.size(); ++i) {
      const Array& want = read.arrays[i];
      const Array& got = d->arrays[i];
      EXPECT_EQ(got.name, want.name);
      EXPECT_EQ(got.dtype, want.dtype) << want.name;
      EXPECT_EQ(got.shape, want.shape) << want.name;
      EXPECT_EQ(got.bytes, want.bytes) << want.name;
    }
  }
  size_t jacobians = 0;
  for (const Array& a : back.arrays) jacobians += a.name.rfind("jacobian/", 0) == 0;
  EXPECT_EQ(jacobians, 3u);  // (L = 3) x (d, d) float32
}

TEST(AnalysisCodec, RefusesDamagedJson) {
  AnalysisFileData d;
  const double x[2] = {1, 2};
  d.arrays.push_back(Array::from_f64("a", {2}, x));
  const std::string good = analysis_file_to_json(d);
  EXPECT_NO_THROW(analysis_file_from_json(good));
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  EXPECT_THROW(analysis_file_from_json("{"), Error);
  EXPECT_THROW(analysis_file_from_json(std::string(100, '[')), Error);         // nesting
  EXPECT_THROW(analysis_file_from_json(with("[2]", "[3]")), Error);            // shape vs bytes
  EXPECT_THROW(analysis_file_from_json(with("[2]", "[-2]")), Error);           // negative
  EXPECT_THROW(analysis_file_from_json(with("float64", "float16")), Error);    // dtype
  EXPECT_THROW(analysis_file_from_json(with("\"a\"", "\"a//b\"")), Error);     // empty part
  EXPECT_THROW(analysis_file_from_json(with("\"step\"", "\"stop\"")), Error);  // missing key
}

TEST(AnalysisFile, MergeKeepsEarlierAnalysesOfTheSameEvaluationSet) {
  const AnalysisResult full = full_result();
  AnalysisResult only_loss = full;
  only_loss.causal.reset();
  only_loss.jacobian.reset();
  EXPECT_TRUE(analysis_merge(only_loss, full));
  EXPECT_TRUE(only_loss.causal.has_value());
  EXPECT_TRUE(only_loss.jacobian.has_value());
  AnalysisResult other = full;
  other.causal.reset();
  other.eval.samples = 99;  // another evaluation set: nothing is taken
  EXPECT_FALSE(analysis_merge(other, full));
  EXPECT_FALSE(other.causal.has_value());
}

TEST(AnalysisFile, RefusesOtherFilesAndBadNames) {
  const auto dir = test::test_tmp_dir("bad");
  EXPECT_THROW(analysis_file_read(dir / "missing.h5"), Error);
  AnalysisFileData d;
  d.texts["format"] = "x";  // reserved
  EXPECT_THROW(analysis_file_write(dir / "a.h5", d), Error);
  AnalysisFileData e;
  const double v = 1;
  e.arrays.push_back(Array::from_f64("a//b", {}, &v));
  EXPECT_THROW(analysis_file_write(dir / "b.h5", e), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "b.h5"));
  EXPECT_FALSE(std::filesystem::exists(dir / "b.h5.tmp"));
  {
    std::ofstream junk(dir / "junk.h5");
    junk << "not hdf5";
  }
  try {
    analysis_file_read(dir / "junk.h5");
    FAIL();
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("junk.h5"), std::string::npos);
  }
}

}  // namespace
}  // namespace dlab
