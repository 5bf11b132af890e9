// Corpus readers and the data.corpus aliases.
//
// data.corpus is a path or an alias:
//   file.txt      one document: the whole file, newlines kept (a book, a code
//                 file, tiny-shakespeare); blank lines are NOT document breaks.
//   file.jsonl    one JSON object per line with a string field "text"; each line
//                 is one document. Empty lines are skipped.
//   directory     every .txt and .jsonl file below it (recursive), in sorted path
//                 order, read as above — or, if it holds only .bin files, a set
//                 of llm.c token shards (see dataset.h).
//   file.bin      an llm.c token shard (shard.h), used as tokens directly.
//   @synthetic    the generated corpus of synthetic.h (no file, no download).
//   @demo         <cache_dir>/corpus/nlp-corpus.jsonl, written by
//                 packaging/setup.sh from the npm package nlp-corpus.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/config.h"
#include "data/shard.h"

namespace dlab {

// Where caches live: data.cache_dir if set, else $XDG_CACHE_HOME/depthlab, else
// ~/.cache/depthlab (a leading "~/" in data.cache_dir is expanded).
std::filesystem::path data_cache_dir(const DataConfig& cfg);

// The absolute path data.corpus names. "@demo" resolves to its cache file and
// throws dlab::Error when it is not installed; "@synthetic" is generated in
// process and resolves to itself (the path "@synthetic"). A path that does not
// exist, or an unknown alias, throws dlab::Error.
std::filesystem::path corpus_resolve(const DataConfig& cfg);

// True for the in-process alias "@synthetic" as returned by corpus_resolve.
bool corpus_is_synthetic(const std::filesystem::path& resolved);

// The .bin token shards a resolved corpus consists of (sorted), or an empty
// list if it is a text corpus. A directory that mixes .bin with .txt/.jsonl
// files throws dlab::Error (it is ambiguous).
std::vector<std::filesystem::path> corpus_shard_files(const std::filesystem::path& resolved);

// The .txt / .jsonl files a resolved text corpus consists of (sorted; the path
// itself for a single file). Throws dlab::Error for unsupported extensions and
// directories without any text file.
std::vector<std::filesystem::path> corpus_text_files(const std::filesystem::path& resolved);

// Documents of a .txt file, a .jsonl file or a directory (see the table above).
// A malformed .jsonl line throws dlab::Error "<file>:<line>: ...".
std::vector<std::string> corpus_read_texts(const std::filesystem::path& path);

// Documents of data.corpus, aliases included.
std::vector<std::string> corpus_load_texts(const DataConfig& cfg);

}  // namespace dlab
