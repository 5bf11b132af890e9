#include "data/dataset.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "data/corpus.h"
#include "data/hash.h"
#include "data/shard.h"
#include "data/synthetic.h"

namespace dlab {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCacheFormat = "depthlab-token-cache";

// Thousands separators make token counts readable in logs.
std::string with_commas(uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(size_t(i), ",");
  return s;
}

void report(const DataProgress& progress, const std::string& stage, double fraction) {
  if (progress) progress(stage, std::min(1.0, std::max(0.0, fraction)));
}

std::string file_identity(const fs::path& f) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(f, ec);
  const auto mtime = fs::last_write_time(f, ec).time_since_epoch().count();
  return std::to_string(size) + " " + std::to_string(int64_t(mtime));
}

// What the tokenizer setting asks for.
struct TokenizerChoice {
  std::string kind;    // byte | bpe | file
  fs::path file;       // for "file"
  int vocab_size = 0;  // of the resulting tokenizer (bpe: the target)
};

TokenizerChoice tokenizer_choice(const DataConfig& cfg, int vocab_size) {
  TokenizerChoice c;
  if (cfg.tokenizer == "byte") {
    if (vocab_size < 256) {
      throw Error("data.tokenizer=byte needs model.vocab_size >= 256; it is " +
                  std::to_string(vocab_size));
    }
    c.kind = "byte";
    c.vocab_size = 256;
  } else if (cfg.tokenizer == "bpe") {
    c.kind = "bpe";
    c.vocab_size = vocab_size;
  } else {
    std::string s = cfg.tokenizer;
    if (s.rfind("~/", 0) == 0 && std::getenv("HOME"))
      s = std::string(std::getenv("HOME")) + s.substr(1);
    c.kind = "file";
    c.file = fs::absolute(s).lexically_normal();
    std::error_code ec;
    if (!fs::is_regular_file(c.file, ec)) {
      throw Error("data.tokenizer = \"" + cfg.tokenizer +
                  "\": expected bpe, byte or the path of a SentencePiece .model file (no such "
                  "file: " +
                  c.file.string() + ")");
    }
    c.vocab_size = vocab_size;
  }
  return c;
}

// The cache key: everything the token stream depends on, except val_fraction
// (the split is taken after loading) and seq_len.
std::string cache_key_source(const fs::path& source, const TokenizerChoice& tc) {
  std::ostringstream k;
  k << kCacheFormat << " v" << kDatasetCacheVersion << "\n";
  k << "corpus " << source.string() << "\n";
  if (corpus_is_synthetic(source)) {
    k << "synthetic v" << kSyntheticVersion << " seed " << kSyntheticSeed << " bytes "
      << kSyntheticBytes << "\n";
  } else {
    for (const fs::path& f : corpus_text_files(source)) {
      k << "file "
        << f.lexically_relative(fs::is_directory(source) ? source : source.parent_path()).string()
        << " " << file_identity(f) << "\n";
    }
  }
  k << "tokenizer " << tc.kind << " vocab " << tc.vocab_size << "\n";
  if (tc.kind == "file") k << "model " << tc.file.string() << " " << file_identity(tc.file) << "\n";
  return k.str();
}

// "<corpus stem>-<tokenizer><V>-<16 hex>": readable and unique enough.
std::string cache_dir_name(const fs::path& source, const TokenizerChoice& tc,
                           const std::string& key) {
  std::string stem = corpus_is_synthetic(source) ? "synthetic" : source.filename().string();
  if (stem.empty()) stem = source.parent_path().filename().string();
  std::string clean;
  for (char ch : stem) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
    if (clean.size() < 40) clean += ok ? ch : '_';
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016" PRIx64, fnv1a64(key));
  return clean + "-" + tc.kind + std::to_string(tc.vocab_size) + "-" + hex;
}

std::string read_file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error("cannot open " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  out.flush();
  if (!out) throw Error("cannot write " + p.string());
}

struct CacheEntry {
  std::vector<uint16_t> tokens;
  std::shared_ptr<Tokenizer> tokenizer;
  int64_t n_documents = 0;
  int64_t n_bytes = 0;
};

// Returns false (and removes a damaged entry) when the cache cannot be used.
bool cache_load(const fs::path& dir, const std::string& key, CacheEntry* entry) {
  std::error_code ec;
  if (!fs::is_regular_file(dir / "meta.json", ec)) return false;
  try {
    const nlohmann::json meta = nlohmann::json::parse(read_file_bytes(dir / "meta.json"));
    if (meta.at("format") != kCacheFormat || meta.at("format_version") != kDatasetCacheVersion ||
        meta.at("key") != key) {
      return false;
    }
    const std::string kind = meta.at("tokenizer_kind");
    const std::string model = kind == "byte" ? "" : read_file_bytes(dir / "tokenizer.model");
    entry->tokenizer = tokenizer_from_model(kind, model);
    entry->tokens = shard_read(dir / "tokens.bin");
    entry->n_documents = meta.at("n_documents");
    entry->n_bytes = meta.at("n_bytes");
    if (int64_t(entry->tokens.size()) != meta.at("n_tokens").get<int64_t>()) {
      throw Error("token count differs from meta.json");
    }
    return true;
  } catch (const std::exception&) {
    // A half-deleted or hand-edited entry: rebuild it rather than fail the run.
    fs::remove_all(dir, ec);
    return false;
  }
}

// Writes into a private temporary directory, then renames it into place, so a
// reader never sees a partial entry and concurrent writers do not collide.
// Returns "" on success, else why the cache was not written (not fatal).
std::string cache_store(const fs::path& dir, const std::string& key, const CacheEntry& entry,
                        const std::string& corpus) {
  static std::atomic<uint64_t> counter{0};
  const uint64_t salt = splitmix64(
      uint64_t(::getpid()) ^ uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      (counter++ << 48));
  char suffix[40];
  std::snprintf(suffix, sizeof(suffix), ".tmp-%d-%08" PRIx64, int(::getpid()), salt & 0xffffffffu);
  const fs::path tmp = dir.string() + suffix;
  std::error_code ec;
  try {
    fs::create_directories(tmp);
    shard_write(tmp / "tokens.bin", entry.tokens);
    if (entry.tokenizer->kind() != "byte") {
      write_file_bytes(tmp / "tokenizer.model", entry.tokenizer->model_bytes());
    }
    nlohmann::json meta = {
        {"format", kCacheFormat},
        {"format_version", kDatasetCacheVersion},
        {"key", key},
        {"corpus", corpus},
        {"tokenizer_kind", entry.tokenizer->kind()},
        {"tokenizer_vocab_size", entry.tokenizer->vocab_size()},
        {"n_documents", entry.n_documents},
        {"n_bytes", entry.n_bytes},
        {"n_tokens", int64_t(entry.tokens.size())},
    };
    write_file_bytes(tmp / "meta.json", meta.dump(2) + "\n");
    fs::remove_all(dir, ec);  // a damaged entry cache_load gave up on, if any
    fs::rename(tmp, dir, ec);
    if (ec) {
      fs::remove_all(tmp, ec);
      return "";  // another process stored the same entry first; theirs is as good
    }
    return "";
  } catch (const std::exception& e) {
    fs::remove_all(tmp, ec);
    return e.what();
  }
}

void check_split(const std::vector<uint16_t>& split, const char* name, int seq_len,
                 const std::string& note) {
  if (int64_t(split.size()) < int64_t(seq_len) + 1) {
    throw Error("the " + std::string(name) + " split has " + std::to_string(split.size()) +
                " tokens" + note + "; data.seq_len=" + std::to_string(seq_len) +
                " needs at least " + std::to_string(int64_t(seq_len) + 1));
  }
}

}  // namespace

std::vector<uint16_t> dataset_encode(const Tokenizer& tok, const std::vector<std::string>& docs,
                                     const std::function<void(double)>& progress) {
  size_t total_bytes = 0;
  for (const std::string& d : docs) total_bytes += d.size();
  const int eos = tok.eos_id();
  const unsigned threads = std::max(1u, std::min(4u, std::thread::hardware_concurrency()));

  std::vector<uint16_t> out;
  out.reserve(total_bytes / 3 + docs.size());
  size_t done_bytes = 0;
  // Blocks of documents: threads share a block, results are appended in order.
  const size_t block = 512;
  std::vector<std::vector<int32_t>> encoded(block);
  for (size_t begin = 0; begin < docs.size(); begin += block) {
    const size_t end = std::min(docs.size(), begin + block);
    std::atomic<size_t> next{begin};
    std::vector<std::string> errors(threads);
    auto work = [&](unsigned t) {
      try {
        for (size_t i = next++; i < end; i = next++) encoded[i - begin] = tok.encode(docs[i]);
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads && end - begin > 1; ++t) pool.emplace_back(work, t);
    work(0);
    for (std::thread& th : pool) th.join();
    for (const std::string& e : errors) {
      if (!e.empty()) throw Error("encoding the corpus failed: " + e);
    }
    for (size_t i = begin; i < end; ++i) {
      if (eos >= 0) out.push_back(uint16_t(eos));
      for (int32_t id : encoded[i - begin]) {
        if (id < 0 || id > 0xffff) {
          throw Error("token id " + std::to_string(id) + " does not fit a uint16 token shard");
        }
        out.push_back(uint16_t(id));
      }
      done_bytes += docs[i].size();
    }
    if (progress) progress(total_bytes ? double(done_bytes) / double(total_bytes) : 1.0);
  }
  if (out.size() > size_t(INT32_MAX)) {
    throw Error("the corpus has " + with_commas(out.size()) +
                " tokens; the token cache (an llm.c shard) holds at most " +
                with_commas(INT32_MAX));
  }
  return out;
}

TokenData dataset_prepare(const DataConfig& cfg, int vocab_size, const DataProgress& progress) {
  if (vocab_size < 1) {
    throw Error("model.vocab_size=" + std::to_string(vocab_size) + " must be positive");
  }
  if (!(cfg.val_fraction >= 0.0 && cfg.val_fraction < 1.0)) {
    throw Error("data.val_fraction=" + std::to_string(cfg.val_fraction) + " must be in [0, 1)");
  }
  if (cfg.seq_len < 1) {
    throw Error("data.seq_len=" + std::to_string(cfg.seq_len) + " must be at least 1");
  }
  const fs::path source = corpus_resolve(cfg);
  const std::string corpus_name = corpus_is_synthetic(source) ? cfg.corpus : source.string();

  TokenData data;
  std::vector<uint16_t> tokens;
  const std::vector<fs::path> shards = corpus_shard_files(source);
  if (!shards.empty()) {
    // Pre-tokenized: the ids mean whatever the tool that wrote them meant.
    for (size_t i = 0; i < shards.size(); ++i) {
      report(progress, "reading shards", double(i) / double(shards.size()));
      const std::vector<uint16_t> part = shard_read(shards[i]);
      for (uint16_t t : part) {
        if (int(t) >= vocab_size) {
          throw Error("token " + std::to_string(t) + " in shard " + shards[i].string() +
                      " is >= model.vocab_size=" + std::to_string(vocab_size));
        }
      }
      tokens.insert(tokens.end(), part.begin(), part.end());
    }
    report(progress, "reading shards", 1.0);
    data.description = corpus_name + ": " + with_commas(tokens.size()) + " tokens from " +
                       std::to_string(shards.size()) + " llm.c shard(s) (data.tokenizer ignored)";
  } else {
    const TokenizerChoice tc = tokenizer_choice(cfg, vocab_size);
    const std::string key = cache_key_source(source, tc);
    const fs::path dir = data_cache_dir(cfg) / "tokens" / cache_dir_name(source, tc, key);
    data.cache_path = dir;

    CacheEntry entry;
    report(progress, "loading cache", 0.0);
    if (cache_load(dir, key, &entry)) {
      report(progress, "loading cache", 1.0);
      data.cache_hit = true;
    } else {
      report(progress, "reading", 0.0);
      const std::vector<std::string> docs = corpus_load_texts(cfg);
      report(progress, "reading", 1.0);
      if (docs.empty()) throw Error("the corpus " + corpus_name + " has no (non-empty) documents");
      entry.n_documents = int64_t(docs.size());
      for (const std::string& d : docs) entry.n_bytes += int64_t(d.size());

      if (tc.kind == "byte") {
        entry.tokenizer = std::make_shared<ByteTokenizer>();
      } else if (tc.kind == "bpe") {
        entry.tokenizer =
            tokenizer_train_bpe(docs, vocab_size, /*max_train_bytes=*/8000000,
                                [&](double f) { report(progress, "training tokenizer", f); });
      } else {
        entry.tokenizer = tokenizer_load_file(tc.file);
      }
      if (entry.tokenizer->vocab_size() > vocab_size) {
        throw Error("the tokenizer " + (tc.kind == "file" ? tc.file.string() : tc.kind) + " has " +
                    std::to_string(entry.tokenizer->vocab_size()) + " pieces; model.vocab_size=" +
                    std::to_string(vocab_size) + " must be at least that");
      }
      entry.tokens = dataset_encode(*entry.tokenizer, docs,
                                    [&](double f) { report(progress, "encoding", f); });
      report(progress, "writing cache", 0.0);
      const std::string why = cache_store(dir, key, entry, corpus_name);
      report(progress, "writing cache", 1.0);
      if (!why.empty()) data.description += " [token cache not written: " + why + "]";
    }
    tokens = std::move(entry.tokens);
    data.tokenizer = entry.tokenizer;
    data.description = corpus_name + ": " + with_commas(uint64_t(entry.n_documents)) +
                       " documents, " + with_commas(uint64_t(entry.n_bytes)) + " bytes -> " +
                       with_commas(tokens.size()) + " tokens (" + data.tokenizer->kind() +
                       ", V=" + std::to_string(data.tokenizer->vocab_size()) + ", " +
                       (data.cache_hit ? "from cache" : "cached") + ")" + data.description;
  }

  // The split: a held-out tail, so train and val never share a window.
  const size_t n = tokens.size();
  const size_t n_val = size_t(double(n) * cfg.val_fraction);
  data.val.assign(tokens.end() - std::ptrdiff_t(n_val), tokens.end());
  tokens.resize(n - n_val);
  data.train = std::move(tokens);
  data.description += "; train " + with_commas(data.train.size()) + " / val " +
                      with_commas(data.val.size()) + " tokens";

  check_split(data.train, "training", cfg.seq_len, "");
  if (cfg.val_fraction > 0.0) {
    char note[96];
    std::snprintf(note, sizeof(note), " (data.val_fraction=%g of %zu)", cfg.val_fraction, n);
    check_split(data.val, "validation", cfg.seq_len, note);
  }
  return data;
}

}  // namespace dlab
