#include "data/corpus.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"
#include "common/install_paths.h"
#include "data/synthetic.h"

namespace dlab {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSyntheticAlias = "@synthetic";
constexpr const char* kDemoAlias = "@demo";

std::string lower_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return ext;
}

bool is_text_file(const fs::path& p) {
  const std::string ext = lower_extension(p);
  return ext == ".txt" || ext == ".jsonl";
}

bool is_shard_file(const fs::path& p) { return lower_extension(p) == ".bin"; }

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// "~/x" -> "$HOME/x"; TOML files are written by people who type "~".
fs::path expand_home(const std::string& s) {
  if ((s == "~" || s.rfind("~/", 0) == 0) && !env("HOME").empty()) {
    return fs::path(env("HOME")) / s.substr(s.size() > 1 ? 2 : 1);
  }
  return fs::path(s);
}

// Regular files below `dir` (recursive), sorted so that the document order
// and therefore the token stream never depend on the file system.
std::vector<fs::path> files_below(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) throw Error("cannot list corpus directory " + dir.string() + ": " + ec.message());
  for (const fs::directory_entry& e : it) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string read_whole_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open corpus file " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error("cannot read corpus file " + path.string());
  return ss.str();
}

// nlohmann's parse errors start with "[json.exception...] parse error at line
// 1, " which would contradict our file:line prefix; keep the part after it.
std::string short_json_error(const std::string& what) {
  const size_t col = what.find("column");
  return col == std::string::npos ? what : what.substr(col);
}

void read_jsonl(const fs::path& path, std::vector<std::string>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open corpus file " + path.string());
  const std::string expected = "expected one JSON object per line with a string field \"text\"";
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line_no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 BOM
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = path.string() + ":" + std::to_string(line_no) + ": ";
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw Error(where + "not valid JSON (" + short_json_error(e.what()) + "); " + expected);
    }
    if (!j.is_object()) {
      throw Error(where + "found a JSON " + std::string(j.type_name()) + "; " + expected);
    }
    auto text = j.find("text");
    if (text == j.end()) {
      std::string keys;
      for (auto it = j.begin(); it != j.end(); ++it) keys += (keys.empty() ? "" : ", ") + it.key();
      throw Error(where + "the object has no \"text\" field (it has: " +
                  (keys.empty() ? std::string("no fields") : keys) + "); " + expected);
    }
    if (!text->is_string()) {
      throw Error(where + "\"text\" is a JSON " + std::string(text->type_name()) + "; " + expected);
    }
    std::string doc = text->get<std::string>();
    if (!doc.empty()) out.push_back(std::move(doc));
  }
  if (in.bad()) throw Error("cannot read corpus file " + path.string());
}

}  // namespace

fs::path data_cache_dir(const DataConfig& cfg) {
  if (!cfg.cache_dir.empty()) return fs::absolute(expand_home(cfg.cache_dir)).lexically_normal();
  const std::string xdg = env("XDG_CACHE_HOME");
  if (!xdg.empty()) return fs::path(xdg) / "depthlab";
  const std::string home = env("HOME");
  if (!home.empty()) return fs::path(home) / ".cache" / "depthlab";
  // No HOME (a bare container): a per-machine temp cache still avoids
  // retokenizing on every run.
  return fs::temp_directory_path() / "depthlab-cache";
}

bool corpus_is_synthetic(const fs::path& resolved) { return resolved == kSyntheticAlias; }

fs::path corpus_resolve(const DataConfig& cfg) {
  const std::string& c = cfg.corpus;
  if (c.empty()) {
    throw Error("data.corpus is empty; expected a path or an alias (@synthetic, @demo)");
  }
  if (c[0] == '@') {
    if (c == kSyntheticAlias) return fs::path(kSyntheticAlias);
    if (c == kDemoAlias) {
      const fs::path demo = data_cache_dir(cfg) / "corpus" / "nlp-corpus.jsonl";
      std::error_code ec;
      if (!fs::is_regular_file(demo, ec) || fs::file_size(demo, ec) == 0) {
        // An installed dlab ships the fetch script; a build tree has setup.sh.
        const fs::path fetch = installed_data_dir() / "fetch_demo_corpus.sh";
        const std::string how =
            fs::is_regular_file(fetch, ec)
                ? "run `bash " + fetch.string() + " " + demo.string() + "` (needs npm and python3)"
                : "run `bash packaging/setup.sh` (it fetches it with npm pack nlp-corpus)";
        throw Error("the demo corpus is not installed at " + demo.string() + "; " + how);
      }
      return demo;
    }
    throw Error("data.corpus = \"" + c + "\" is not a known alias; allowed: @synthetic, @demo");
  }
  const fs::path p = fs::absolute(expand_home(c)).lexically_normal();
  std::error_code ec;
  if (!fs::exists(p, ec)) {
    throw Error("data.corpus = \"" + c + "\": no such file or directory (" + p.string() +
                "); expected a .txt, .jsonl or .bin file, a directory of them, or an alias "
                "(@synthetic, @demo)");
  }
  return p;
}

std::vector<fs::path> corpus_shard_files(const fs::path& resolved) {
  if (corpus_is_synthetic(resolved)) return {};
  if (!fs::is_directory(resolved)) {
    if (is_shard_file(resolved)) return {resolved};
    return {};
  }
  std::vector<fs::path> shards;
  size_t texts = 0;
  for (const fs::path& f : files_below(resolved)) {
    if (is_shard_file(f)) shards.push_back(f);
    if (is_text_file(f)) ++texts;
  }
  if (!shards.empty() && texts > 0) {
    throw Error("corpus directory " + resolved.string() + " holds both token shards (" +
                std::to_string(shards.size()) + " .bin) and text files (" + std::to_string(texts) +
                " .txt/.jsonl); point data.corpus at one kind");
  }
  return shards;
}

std::vector<fs::path> corpus_text_files(const fs::path& resolved) {
  if (!fs::is_directory(resolved)) {
    if (is_text_file(resolved)) return {resolved};
    if (is_shard_file(resolved)) {
      throw Error(resolved.string() + " is an llm.c token shard, not text; it has no documents");
    }
    throw Error("unsupported corpus file " + resolved.string() +
                ": expected .txt, .jsonl, .bin or a directory");
  }
  std::vector<fs::path> texts;
  for (const fs::path& f : files_below(resolved)) {
    if (is_text_file(f)) texts.push_back(f);
  }
  if (texts.empty()) {
    throw Error("corpus directory " + resolved.string() + " has no .txt or .jsonl files");
  }
  return texts;
}

std::vector<std::string> corpus_read_texts(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error("corpus path " + path.string() + " does not exist");
  std::vector<std::string> docs;
  for (const fs::path& f : corpus_text_files(path)) {
    if (lower_extension(f) == ".jsonl") {
      read_jsonl(f, docs);
    } else {
      std::string doc = read_whole_file(f);
      if (!doc.empty()) docs.push_back(std::move(doc));
    }
  }
  return docs;
}

std::vector<std::string> corpus_load_texts(const DataConfig& cfg) {
  const fs::path resolved = corpus_resolve(cfg);
  if (corpus_is_synthetic(resolved)) return corpus_synthetic();
  return corpus_read_texts(resolved);
}

}  // namespace dlab
