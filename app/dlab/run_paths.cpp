#include "run_paths.h"

#include <string>

#include "common/error.h"

namespace dlab::cli {

std::filesystem::path run_dir_claim(Config& config) {
  const std::filesystem::path parent = config.run.dir;
  std::error_code ec;
  if (std::filesystem::exists(parent, ec) && !std::filesystem::is_directory(parent, ec)) {
    throw Error("run.dir=" + config.run.dir + " is not a directory; use a directory for the runs");
  }
  const std::string base = config.run.name;
  std::filesystem::path dir = parent / base;
  for (int i = 2; std::filesystem::exists(dir / "run.h5"); ++i) {
    config.run.name = base + "-" + std::to_string(i);
    dir = parent / config.run.name;
  }
  return dir;
}

std::string run_dir_share_key(size_t index) { return "run-dir-" + std::to_string(index); }

}  // namespace dlab::cli
