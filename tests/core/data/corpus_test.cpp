#include "data/corpus.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <sstream>

#include "data/synthetic.h"
#include "test_tmp.h"

namespace dlab {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::write_text;

TEST(Corpus, TxtFileIsOneDocumentWithItsBlankLines) {
  const auto dir = test::fresh_tmp_dir();
  const std::string text = "First paragraph.\n\nSecond paragraph.\n";
  write_text(dir / "a.txt", text);
  EXPECT_EQ(corpus_read_texts(dir / "a.txt"), std::vector<std::string>{text});
}

TEST(Corpus, JsonlReadsTheTextFieldOfEveryLine) {
  const auto dir = test::fresh_tmp_dir();
  write_text(dir / "d.jsonl",
             "\xEF\xBB\xBF{\"text\": \"one\", \"id\": 1}\n"
             "\n"
             "{\"text\": \"two\\nlines \\u00fc\"}\r\n"
             "{\"text\": \"\"}\n"
             "{\"meta\": {\"x\": 1}, \"text\": \"three\"}");
  const std::vector<std::string> want = {"one", "two\nlines \xC3\xBC", "three"};
  EXPECT_EQ(corpus_read_texts(dir / "d.jsonl"), want);
}

TEST(Corpus, MalformedJsonlLinesNameFileLineAndExpectation) {
  const auto dir = test::fresh_tmp_dir();
  write_text(dir / "bad.jsonl", "{\"text\": \"ok\"}\n\n{\"text\": oops}\n");
  std::string msg = error_of([&] { corpus_read_texts(dir / "bad.jsonl"); });
  EXPECT_NE(msg.find("bad.jsonl:3: not valid JSON"), std::string::npos) << msg;
  EXPECT_NE(msg.find("string field \"text\""), std::string::npos) << msg;

  write_text(dir / "nofield.jsonl", "{\"text\": \"ok\"}\n{\"body\": \"x\", \"id\": 2}\n");
  msg = error_of([&] { corpus_read_texts(dir / "nofield.jsonl"); });
  EXPECT_NE(msg.find("nofield.jsonl:2: the object has no \"text\" field (it has: body, id)"),
            std::string::npos)
      << msg;

  write_text(dir / "number.jsonl", "{\"text\": 42}\n");
  msg = error_of([&] { corpus_read_texts(dir / "number.jsonl"); });
  EXPECT_NE(msg.find("number.jsonl:1: \"text\" is a JSON number"), std::string::npos) << msg;

  write_text(dir / "array.jsonl", "[\"text\"]\n");
  msg = error_of([&] { corpus_read_texts(dir / "array.jsonl"); });
  EXPECT_NE(msg.find("array.jsonl:1: found a JSON array"), std::string::npos) << msg;
}

TEST(Corpus, DirectoryReadsTxtAndJsonlRecursivelyInSortedOrder) {
  const auto dir = test::fresh_tmp_dir();
  write_text(dir / "b.txt", "bee");
  write_text(dir / "sub" / "c.txt", "sea");
  write_text(dir / "a.jsonl", "{\"text\": \"a1\"}\n{\"text\": \"a2\"}\n");
  write_text(dir / "notes.md", "ignored");
  const std::vector<std::string> want = {"a1", "a2", "bee", "sea"};
  EXPECT_EQ(corpus_read_texts(dir), want);
}

TEST(Corpus, DirectoryAndExtensionErrors) {
  const auto dir = test::fresh_tmp_dir();
  write_text(dir / "empty" / "x.md", "no text files");
  EXPECT_NE(error_of([&] { corpus_read_texts(dir / "empty"); }).find("has no .txt or .jsonl"),
            std::string::npos);
  write_text(dir / "doc.pdf", "%PDF");
  EXPECT_NE(error_of([&] {
              corpus_read_texts(dir / "doc.pdf");
            }).find("expected .txt, .jsonl, .bin or a directory"),
            std::string::npos);

  write_text(dir / "mixed" / "a.txt", "text");
  shard_write(dir / "mixed" / "b.bin", {1, 2, 3});
  EXPECT_NE(error_of([&] { corpus_shard_files(dir / "mixed"); }).find("both token shards"),
            std::string::npos);

  fs::create_directories(dir / "shards");
  shard_write(dir / "shards" / "s2.bin", {1});
  shard_write(dir / "shards" / "s1.bin", {2});
  const std::vector<fs::path> want = {dir / "shards" / "s1.bin", dir / "shards" / "s2.bin"};
  EXPECT_EQ(corpus_shard_files(dir / "shards"), want);
  EXPECT_TRUE(corpus_shard_files(dir / "mixed" / "a.txt").empty());
}

TEST(Corpus, ResolveAliasesAndPaths) {
  const auto dir = test::fresh_tmp_dir();
  DataConfig cfg;
  cfg.cache_dir = (dir / "cache").string();

  cfg.corpus = "@synthetic";
  EXPECT_TRUE(corpus_is_synthetic(corpus_resolve(cfg)));

  cfg.corpus = "@demo";
  const fs::path demo = dir / "cache" / "corpus" / "nlp-corpus.jsonl";
  EXPECT_EQ(error_of([&] { corpus_resolve(cfg); }),
            "the demo corpus is not installed at " + demo.string() +
                "; run `bash packaging/setup.sh` (it fetches it with npm pack nlp-corpus)");
  write_text(demo, "{\"text\": \"demo doc\"}\n");
  EXPECT_EQ(corpus_resolve(cfg), demo);
  EXPECT_EQ(corpus_load_texts(cfg), std::vector<std::string>{"demo doc"});

  cfg.corpus = "@wikipedia";
  EXPECT_NE(error_of([&] { corpus_resolve(cfg); }).find("allowed: @synthetic, @demo"),
            std::string::npos);
  cfg.corpus = (dir / "nope.txt").string();
  EXPECT_NE(error_of([&] { corpus_resolve(cfg); }).find("no such file or directory"),
            std::string::npos);
  cfg.corpus = "";
  EXPECT_NE(error_of([&] { corpus_resolve(cfg); }).find("data.corpus is empty"), std::string::npos);
}

TEST(Corpus, CacheDirFollowsConfigThenXdg) {
  DataConfig cfg;
  cfg.cache_dir = "/some/where";
  EXPECT_EQ(data_cache_dir(cfg), fs::path("/some/where"));

  cfg.cache_dir = "";
  const char* old = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old ? old : "";
  ::setenv("XDG_CACHE_HOME", "/xdg/cache", 1);
  EXPECT_EQ(data_cache_dir(cfg), fs::path("/xdg/cache/depthlab"));
  ::unsetenv("XDG_CACHE_HOME");
  if (std::getenv("HOME")) {
    EXPECT_EQ(data_cache_dir(cfg), fs::path(std::getenv("HOME")) / ".cache" / "depthlab");
  }
  if (old) ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
}

std::vector<std::string> words_of(const std::string& s) {
  std::vector<std::string> words;
  std::string w;
  for (char c : s) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      w += char(std::tolower(static_cast<unsigned char>(c)));
    } else if (!w.empty()) {
      words.push_back(w);
      w.clear();
    }
  }
  if (!w.empty()) words.push_back(w);
  return words;
}

TEST(Synthetic, DeterministicSizedAndFast) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<std::string> a = corpus_synthetic();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds, 1.0);
  EXPECT_EQ(a, corpus_synthetic());
  EXPECT_NE(a, corpus_synthetic(/*seed=*/7));
  size_t bytes = 0;
  for (const auto& d : a) bytes += d.size();
  EXPECT_GE(bytes, 1000000u);
  EXPECT_LE(bytes, 2000000u);
  EXPECT_GT(a.size(), 1000u);
}

// The grammar's agreements hold, so there is something consistent to learn.
TEST(Synthetic, TenseArticlesAndSumsAgree) {
  const std::vector<std::string> docs = corpus_synthetic(/*seed=*/3, /*target_bytes=*/200000);
  const std::set<std::string> present = {"is", "are", "does", "do", "make"};
  const std::set<std::string> past = {"was", "were", "did", "made"};
  const std::set<std::string> past_openers = {"yesterday", "last", "long", "once"};
  const std::vector<std::string> numbers = {"zero", "one",    "two",   "three", "four",
                                            "five", "six",    "seven", "eight", "nine",
                                            "ten",  "eleven", "twelve"};
  auto number = [&](const std::string& w) {
    for (size_t i = 0; i < numbers.size(); ++i)
      if (numbers[i] == w) return int(i);
    return -1;
  };
  int sums = 0;
  for (const std::string& doc : docs) {
    const std::vector<std::string> w = words_of(doc);
    const bool is_past = past_openers.count(w[0]) > 0;
    for (size_t i = 0; i < w.size(); ++i) {
      EXPECT_EQ((is_past ? present : past).count(w[i]), 0u) << "tense mix-up in: " << doc;
      if (i + 1 < w.size() && w[i] == "a") {
        EXPECT_EQ(std::string("aeiou").find(w[i + 1][0]), std::string::npos) << doc;
      }
      if (i + 1 < w.size() && w[i] == "an") {
        EXPECT_NE(std::string("aeiou").find(w[i + 1][0]), std::string::npos) << doc;
      }
      // "<a> and <b> make <a+b>"
      if (i + 4 < w.size() && w[i + 1] == "and" && (w[i + 3] == "make" || w[i + 3] == "made") &&
          number(w[i]) >= 0) {
        EXPECT_EQ(number(w[i]) + number(w[i + 2]), number(w[i + 4])) << doc;
        ++sums;
      }
    }
  }
  EXPECT_GT(sums, 50);
}

}  // namespace
}  // namespace dlab
