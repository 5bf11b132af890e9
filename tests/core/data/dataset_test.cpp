#include "data/dataset.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/shard.h"
#include "data/synthetic.h"
#include "test_tmp.h"

namespace dlab {
namespace {

namespace fs = std::filesystem;
using test::error_of;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A .jsonl corpus made from synthetic documents (so BPE has something to learn).
void write_jsonl(const fs::path& p, const std::vector<std::string>& docs) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  for (const std::string& d : docs) out << nlohmann::json{{"text", d}}.dump() << "\n";
}

std::vector<uint16_t> joined(const TokenData& d) {
  std::vector<uint16_t> all = d.train;
  all.insert(all.end(), d.val.begin(), d.val.end());
  return all;
}

TEST(Dataset, SyntheticBytesSplitTheTailAndDecodeToTheCorpus) {
  const auto dir = test::fresh_tmp_dir();
  DataConfig cfg;
  cfg.corpus = "@synthetic";
  cfg.tokenizer = "byte";
  cfg.cache_dir = (dir / "cache").string();
  cfg.val_fraction = 0.1;
  const TokenData d = dataset_prepare(cfg, /*vocab_size=*/256);
  ASSERT_TRUE(d.tokenizer);
  EXPECT_EQ(d.tokenizer->kind(), "byte");
  EXPECT_FALSE(d.cache_hit);

  // Every document preceded by EOS (0), then its bytes; val is the exact tail.
  const std::vector<std::string> docs = corpus_synthetic();
  std::vector<uint16_t> want;
  for (const std::string& doc : docs) {
    want.push_back(0);
    for (unsigned char c : doc) want.push_back(c);
  }
  EXPECT_EQ(joined(d), want);
  EXPECT_EQ(d.val.size(), size_t(double(want.size()) * 0.1));
  EXPECT_NE(d.description.find("@synthetic"), std::string::npos) << d.description;

  // Changing only val_fraction re-splits the same cached tokens.
  cfg.val_fraction = 0.2;
  const TokenData d2 = dataset_prepare(cfg, 256);
  EXPECT_TRUE(d2.cache_hit);
  EXPECT_EQ(joined(d2), want);
  EXPECT_EQ(d2.val.size(), size_t(double(want.size()) * 0.2));
}

TEST(Dataset, BpeCacheHitIsFastIdenticalAndDoesNotRetrain) {
  DEPTHLAB_REQUIRE_SENTENCEPIECE();
  const auto dir = test::fresh_tmp_dir();
  write_jsonl(dir / "corpus.jsonl", corpus_synthetic(/*seed=*/5, /*target_bytes=*/400000));
  DataConfig cfg;
  cfg.corpus = (dir / "corpus.jsonl").string();
  cfg.tokenizer = "bpe";
  cfg.cache_dir = (dir / "cache").string();

  std::vector<std::string> stages;
  auto record = [&](const std::string& stage, double f) {
    EXPECT_GE(f, 0.0);
    EXPECT_LE(f, 1.0);
    if (stages.empty() || stages.back() != stage) stages.push_back(stage);
  };
  auto t0 = std::chrono::steady_clock::now();
  const TokenData first = dataset_prepare(cfg, /*vocab_size=*/384, record);
  const double cold = seconds_since(t0);
  EXPECT_FALSE(first.cache_hit);
  EXPECT_EQ(first.tokenizer->vocab_size(), 384);
  const std::vector<std::string> cold_stages = {"loading cache", "reading", "training tokenizer",
                                                "encoding", "writing cache"};
  EXPECT_EQ(stages, cold_stages);

  // The entry is complete and no temporary directory was left behind.
  ASSERT_TRUE(fs::is_directory(first.cache_path));
  EXPECT_EQ(first.cache_path.parent_path(), dir / "cache" / "tokens");
  for (const char* f : {"tokens.bin", "tokenizer.model", "meta.json"}) {
    EXPECT_TRUE(fs::is_regular_file(first.cache_path / f)) << f;
  }
  for (const auto& e : fs::directory_iterator(dir / "cache" / "tokens")) {
    EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << e.path();
  }
  EXPECT_EQ(shard_read(first.cache_path / "tokens.bin"), joined(first));

  stages.clear();
  t0 = std::chrono::steady_clock::now();
  const TokenData second = dataset_prepare(cfg, 384, record);
  const double warm = seconds_since(t0);
  EXPECT_TRUE(second.cache_hit);
  EXPECT_EQ(stages, std::vector<std::string>{"loading cache"});  // no reading, no training
  EXPECT_EQ(second.train, first.train);
  EXPECT_EQ(second.val, first.val);
  EXPECT_EQ(second.tokenizer->model_bytes(), first.tokenizer->model_bytes());
  EXPECT_LT(warm * 5, cold) << "cold " << cold << " s, warm " << warm << " s";

  // A different vocabulary size is a different entry.
  const TokenData other = dataset_prepare(cfg, 320);
  EXPECT_FALSE(other.cache_hit);
  EXPECT_NE(other.cache_path, first.cache_path);
  EXPECT_EQ(other.tokenizer->vocab_size(), 320);

  // data.tokenizer = the cached .model file: same encodings as the trained one.
  cfg.tokenizer = (first.cache_path / "tokenizer.model").string();
  const TokenData from_file = dataset_prepare(cfg, 384);
  EXPECT_EQ(joined(from_file), joined(first));
  EXPECT_NE(error_of([&] {
              dataset_prepare(cfg, 300);
            }).find("has 384 pieces; model.vocab_size=300 must be at least that"),
            std::string::npos);
}

TEST(Dataset, ChangedCorpusOrDamagedEntryIsRebuilt) {
  const auto dir = test::fresh_tmp_dir();
  const fs::path corpus = dir / "c.txt";
  test::write_text(corpus, "The first version of the corpus.\n");
  DataConfig cfg;
  cfg.corpus = corpus.string();
  cfg.tokenizer = "byte";
  cfg.cache_dir = (dir / "cache").string();
  cfg.seq_len = 4;
  cfg.val_fraction = 0.25;
  const TokenData a = dataset_prepare(cfg, 256);
  EXPECT_TRUE(dataset_prepare(cfg, 256).cache_hit);

  // Same size, new content and mtime: the key changes.
  test::write_text(corpus, "THE FIRST VERSION OF THE CORPUS.\n");
  fs::last_write_time(corpus, fs::last_write_time(corpus) + std::chrono::seconds(5));
  const TokenData b = dataset_prepare(cfg, 256);
  EXPECT_FALSE(b.cache_hit);
  EXPECT_NE(b.cache_path, a.cache_path);
  const std::vector<uint16_t> tokens = joined(b);
  EXPECT_EQ(ByteTokenizer().decode(std::vector<int32_t>(tokens.begin(), tokens.end())),
            "THE FIRST VERSION OF THE CORPUS.\n");

  // A truncated token file is detected and rebuilt rather than trusted.
  fs::resize_file(b.cache_path / "tokens.bin", 1030);
  const TokenData c = dataset_prepare(cfg, 256);
  EXPECT_FALSE(c.cache_hit);
  EXPECT_EQ(joined(c), joined(b));
  EXPECT_TRUE(dataset_prepare(cfg, 256).cache_hit);
}

TEST(Dataset, ShardsAreUsedAsIsAndCheckedAgainstTheVocabulary) {
  const auto dir = test::fresh_tmp_dir();
  std::vector<uint16_t> s1, s2;
  for (int i = 0; i < 300; ++i) s1.push_back(uint16_t(i % 2048));
  for (int i = 0; i < 200; ++i) s2.push_back(uint16_t((i * 13) % 2048));
  fs::create_directories(dir / "shards");
  shard_write(dir / "shards" / "train_001.bin", s2);
  shard_write(dir / "shards" / "train_000.bin", s1);
  DataConfig cfg;
  cfg.corpus = (dir / "shards").string();
  cfg.tokenizer = "bpe";  // ignored for shards
  cfg.cache_dir = (dir / "cache").string();
  cfg.seq_len = 8;
  cfg.val_fraction = 0.1;
  const TokenData d = dataset_prepare(cfg, 2048);
  EXPECT_FALSE(d.tokenizer);
  std::vector<uint16_t> want = s1;
  want.insert(want.end(), s2.begin(), s2.end());
  EXPECT_EQ(joined(d), want);
  EXPECT_EQ(d.val.size(), 50u);
  EXPECT_FALSE(fs::exists(dir / "cache"));  // nothing to cache

  cfg.corpus = (dir / "gpt2.bin").string();
  shard_write(dir / "gpt2.bin", {1, 2, 50256, 3});
  EXPECT_EQ(error_of([&] { dataset_prepare(cfg, 2048); }),
            "token 50256 in shard " + (dir / "gpt2.bin").string() + " is >= model.vocab_size=2048");
}

TEST(Dataset, ErrorsNameTheSettingAndTheNumbers) {
  const auto dir = test::fresh_tmp_dir();
  test::write_text(dir / "small.txt", std::string(999, 'x'));  // + EOS = 1000 tokens
  DataConfig cfg;
  cfg.corpus = (dir / "small.txt").string();
  cfg.tokenizer = "byte";
  cfg.cache_dir = (dir / "cache").string();
  cfg.seq_len = 128;
  cfg.val_fraction = 0.1;
  EXPECT_EQ(error_of([&] { dataset_prepare(cfg, 256); }),
            "the validation split has 100 tokens (data.val_fraction=0.1 of 1000); data.seq_len=128 "
            "needs at least 129");
  cfg.seq_len = 1000;
  cfg.val_fraction = 0.0;
  EXPECT_EQ(error_of([&] { dataset_prepare(cfg, 256); }),
            "the training split has 1000 tokens; data.seq_len=1000 needs at least 1001");

  cfg.seq_len = 8;
  EXPECT_EQ(error_of([&] { dataset_prepare(cfg, 128); }),
            "data.tokenizer=byte needs model.vocab_size >= 256; it is 128");
  cfg.tokenizer = (dir / "missing.model").string();
  EXPECT_NE(error_of([&] {
              dataset_prepare(cfg, 256);
            }).find("expected bpe, byte or the path of a SentencePiece .model file"),
            std::string::npos);
  cfg.tokenizer = "byte";
  cfg.val_fraction = 1.0;
  EXPECT_NE(error_of([&] { dataset_prepare(cfg, 256); }).find("data.val_fraction=1"),
            std::string::npos);
  cfg.val_fraction = 0.1;
  cfg.corpus = "@demo";
  EXPECT_NE(error_of([&] { dataset_prepare(cfg, 256); }).find("the demo corpus is not installed"),
            std::string::npos);
}

}  // namespace
}  // namespace dlab
