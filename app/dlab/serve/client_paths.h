// The local paths a client may name (issue 13). A `start` request comes from
// the network, and its config names files and folders on the server's
// machine: data.corpus and data.tokenizer are read, data.cache_dir is written,
// run.dir would be. Each such value must resolve, after canonicalisation
// (symlinks and "..", relative paths against the server's working directory,
// a leading "~/" as the engine expands it), inside the server's runs folder or
// a folder the operator listed with `dlab serve --data DIR`.
//
// What the server supplies itself is not a client path and always passes:
// data.cache_dir "" (the server's own cache), run.dir "runs" (the default; runs
// are created under --runs whatever run.dir says), the corpus aliases
// (@synthetic, @demo: the demo corpus lives in the cache) and the tokenizers
// byte and bpe.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/config.h"

namespace dlab::serve {

class ClientPaths {
 public:
  // `runs` is created when missing; every `data` folder must exist (dlab::Error
  // "--data DIR: ..." otherwise).
  ClientPaths(const std::filesystem::path& runs, const std::vector<std::filesystem::path>& data);

  // Checks every path-valued key of a client's config. Returns one problem per
  // refused key, "<key>=<value> <why>; <what is allowed>" (the invalid_config
  // field style); on success each path key holds the canonical path that was
  // checked, so the engine opens exactly that.
  std::vector<std::string> confine(Config& config) const;

  // The canonical runs folder, then the --data folders.
  const std::vector<std::filesystem::path>& roots() const { return roots_; }

 private:
  // "" when `value` (a client path of key `key`) resolves inside a root, and
  // then `resolved` is its canonical form; else the problem.
  std::string check(const std::string& key, const std::string& value,
                    std::filesystem::path& resolved) const;
  std::string roots_text() const;

  std::vector<std::filesystem::path> roots_;
};

}  // namespace dlab::serve
