#include "serve/client_paths.h"

#include <cstdlib>

#include "common/config_validate.h"
#include "common/error.h"

namespace dlab::serve {
namespace {

namespace fs = std::filesystem;

// Whether `p` is `root` or lies below it, compared component by component (so
// /data2 is not inside /data). Both are canonical.
bool inside(const fs::path& p, const fs::path& root) {
  auto q = p.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++q) {
    if (r->empty()) continue;  // a trailing separator
    if (q == p.end() || *q != *r) return false;
  }
  return true;
}

// A leading "~/" is the home directory, as the engine reads data.corpus and
// data.cache_dir (data/corpus.cpp): the check must see the path it will open.
fs::path expand_home(const std::string& value) {
  const char* home = std::getenv("HOME");
  if (value.rfind("~/", 0) == 0 && home && *home) return fs::path(home) / value.substr(2);
  return value;
}

// No NUL and no control character: a NUL would cut the path short where the
// system opens it, so the path checked would not be the path opened.
bool printable_path(const std::string& value) {
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

ClientPaths::ClientPaths(const fs::path& runs, const std::vector<fs::path>& data) {
  std::error_code ec;
  fs::create_directories(runs, ec);  // so that it canonicalises as it will be
  const fs::path r = fs::weakly_canonical(fs::absolute(runs, ec), ec);
  if (ec) throw Error("--runs " + runs.string() + ": " + ec.message());
  roots_.push_back(r);
  for (const fs::path& d : data) {
    if (!fs::is_directory(d, ec)) {
      throw Error("--data " + d.string() +
                  ": not a directory; give an existing folder that clients may name in "
                  "data.corpus, data.tokenizer and data.cache_dir");
    }
    const fs::path c = fs::canonical(d, ec);
    if (ec) throw Error("--data " + d.string() + ": " + ec.message());
    roots_.push_back(c);
  }
}

std::string ClientPaths::roots_text() const {
  std::string s = roots_[0].string() + " (the runs folder, --runs)";
  for (size_t i = 1; i < roots_.size(); ++i) s += ", " + roots_[i].string();
  if (roots_.size() > 1) s += " (--data)";
  return s;
}

std::string ClientPaths::check(const std::string& key, const std::string& value,
                               fs::path& resolved) const {
  const std::string shown = key + "=" + printable_text(value);
  const std::string allowed = "; this server lets clients name paths inside " + roots_text() +
                              " only (its operator adds folders with dlab serve --data DIR)";
  if (!printable_path(value)) {
    return shown + " is not a path of printable characters" + allowed;
  }
  std::error_code ec;
  // Symlinks and ".." resolved in the part that exists; the rest (a cache
  // folder not made yet) normalised: what the engine will open or create.
  resolved = fs::weakly_canonical(fs::absolute(expand_home(value), ec), ec);
  if (ec) return shown + " cannot be resolved (" + ec.message() + ")" + allowed;
  for (const fs::path& root : roots_) {
    if (inside(resolved, root)) return "";
  }
  return shown + " resolves to " + printable_text(resolved.string()) +
         ", outside the folders clients may name" + allowed;
}

std::vector<std::string> ClientPaths::confine(Config& config) const {
  std::vector<std::string> problems;
  fs::path resolved;
  // Runs are created in the runs folder whatever run.dir says; a client that
  // asks for another folder is told so rather than silently overruled.
  if (config.run.dir != RunConfig{}.dir) {
    std::string why = check("run.dir", config.run.dir, resolved);
    if (why.empty() && resolved != roots_[0]) {
      why = "run.dir=" + printable_text(config.run.dir) +
            " is not this server's runs folder; its runs are created in " + roots_[0].string() +
            ": leave run.dir at its default (runs)";
    }
    if (!why.empty()) problems.push_back(why);
  }
  // The checked canonical path replaces the value: the engine opens that.
  auto confine_key = [&](const std::string& key, std::string& value) {
    const std::string why = check(key, value, resolved);
    if (why.empty()) {
      value = resolved.string();
    } else {
      problems.push_back(why);
    }
  };
  if (!config.data.cache_dir.empty()) confine_key("data.cache_dir", config.data.cache_dir);
  if (!config.data.corpus.empty() && config.data.corpus[0] != '@') {
    confine_key("data.corpus", config.data.corpus);
  }
  const std::string& tok = config.data.tokenizer;
  if (!tok.empty() && tok != "byte" && tok != "bpe")
    confine_key("data.tokenizer", config.data.tokenizer);
  return problems;
}

}  // namespace dlab::serve
