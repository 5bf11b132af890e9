// Prepared token data with an on-disk cache.
//
// dataset_prepare resolves data.corpus, then either
//  - uses llm.c token shards (.bin, or a directory holding only .bin files) as
//    they are: data.tokenizer is IGNORED and TokenData::tokenizer is null; every
//    token must be < vocab_size; or
//  - reads the documents, trains (data.tokenizer = "bpe"), builds ("byte") or
//    loads (a .model path) the tokenizer, encodes every document preceded by
//    EOS, and caches the token stream as an llm.c shard next to the tokenizer
//    model under <cache_dir>/tokens/<key>/ (see docs/data.md). The key hashes
//    the corpus path, size and mtime (of every file, for a directory), the
//    tokenizer kind, its vocabulary size (and the .model file's identity) and
//    kDatasetCacheVersion, so a changed corpus is re-tokenized and a second
//    run with the same inputs reads the cache (no tokenizer training).
// The last floor(n * val_fraction) tokens are the validation split, the rest
// the training split (deterministic; val_fraction does not enter the key).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "data/tokenizer.h"

namespace dlab {

constexpr int kDatasetCacheVersion = 1;

struct TokenData {
  std::vector<uint16_t> train;
  std::vector<uint16_t> val;
  std::shared_ptr<Tokenizer> tokenizer;  // null for llm.c shards (tokenizer unknown)
  std::string description;               // one line for logs: corpus, tokenizer, sizes
  bool cache_hit = false;                // tokens came from <cache_dir>/tokens/<key>
  std::filesystem::path cache_path;      // that directory; empty for shards
};

// stage: "reading", "training tokenizer", "encoding", "writing cache",
// "loading cache", "reading shards"; fraction in [0, 1] within the stage.
using DataProgress = std::function<void(const std::string& stage, double fraction)>;

// vocab_size is model.vocab_size: the BPE target size, and the bound every
// token id must respect. Throws dlab::Error with the offending values for bad
// settings, unreadable corpora and splits shorter than data.seq_len + 1.
TokenData dataset_prepare(const DataConfig& cfg, int vocab_size, const DataProgress& progress = {});

// Encodes documents into one stream, each document preceded by tok.eos_id()
// (when it has one). Uses up to 4 threads; progress gets fractions in [0, 1].
std::vector<uint16_t> dataset_encode(const Tokenizer& tok, const std::vector<std::string>& docs,
                                     const std::function<void(double)>& progress = {});

}  // namespace dlab
