#include "common/presets.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "common/config_io.h"
#include "common/error.h"
#include "common/install_paths.h"
#include "common/text_match.h"

namespace fs = std::filesystem;

namespace dlab {
namespace {

bool is_dir(const std::string& path) {
  std::error_code ec;
  return !path.empty() && fs::is_directory(path, ec);
}

// The candidate directories in search order, existing or not.
std::vector<std::string> search_dirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("DEPTHLAB_PRESETS")) {
    const std::string list = env;
    size_t start = 0;
    while (start <= list.size()) {
      const size_t colon = std::min(list.find(':', start), list.size());
      if (colon > start) dirs.push_back(list.substr(start, colon - start));
      start = colon + 1;
    }
  }
  // An installed program reads its own presets first, so a package never
  // picks up a source tree that happens to sit at the build path.
  const fs::path installed = installed_data_dir();
  if (!installed.empty()) dirs.push_back((installed / "presets").string());
#ifdef DEPTHLAB_SOURCE_PRESETS_DIR
  dirs.push_back(DEPTHLAB_SOURCE_PRESETS_DIR);
#endif
  return dirs;
}

}  // namespace

std::vector<std::string> preset_dirs() {
  std::vector<std::string> dirs;
  for (const std::string& dir : search_dirs()) {
    if (is_dir(dir) && std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) {
      dirs.push_back(dir);
    }
  }
  return dirs;
}

std::vector<std::string> preset_names(const std::string& dir) {
  const std::vector<std::string> dirs = dir.empty() ? preset_dirs() : std::vector<std::string>{dir};
  std::vector<std::string> names;
  for (const std::string& d : dirs) {
    std::error_code ec;
    for (const fs::directory_entry& entry : fs::directory_iterator(d, ec)) {
      if (entry.path().extension() != ".toml" || !entry.is_regular_file(ec)) continue;
      const std::string name = entry.path().stem().string();
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

Config preset_load(const std::string& name_or_path) {
  const bool is_path =
      name_or_path.find('/') != std::string::npos || fs::path(name_or_path).extension() == ".toml";
  if (is_path) return config_from_file(name_or_path);

  const std::vector<std::string> dirs = preset_dirs();
  for (const std::string& dir : dirs) {
    const fs::path file = fs::path(dir) / (name_or_path + ".toml");
    std::error_code ec;
    if (fs::is_regular_file(file, ec)) return config_from_file(file);
  }

  const std::vector<std::string> names = preset_names();
  if (names.empty()) {
    throw Error("unknown preset '" + name_or_path + "': no preset directory found (looked in " +
                join(search_dirs()) + "; set DEPTHLAB_PRESETS to a directory of .toml presets)");
  }
  const std::string close = closest_match(name_or_path, names, 2);
  const std::string available = join(names) + " (in " + join(dirs) + ")";
  if (close.empty()) {
    throw Error("unknown preset '" + name_or_path + "'; the presets are " + available);
  }
  throw Error("unknown preset '" + name_or_path + "'; did you mean '" + close +
              "'? The presets are " + available);
}

}  // namespace dlab
