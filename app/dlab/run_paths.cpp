#include "run_paths.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/config_json.h"
#include "common/error.h"
#include "store/checkpoint_file.h"
#include "store/run_file.h"

namespace dlab::cli {

namespace {

// Takes `dir` for a new run if no run has it: creates its lock file with
// O_EXCL, which exactly one of several processes racing for it can do. A
// folder holding a run.h5 (or a lock file) is another run's.
bool run_dir_try_take(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(dir.string() + ": cannot create the run directory (" + ec.message() + ")");
  const std::filesystem::path run_file = dir / "run.h5";
  if (std::filesystem::exists(run_file, ec)) return false;
  const int fd =
      ::open(run_lock_path(run_file).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ::close(fd);
    return true;
  }
  if (errno == EEXIST) return false;
  throw Error(run_lock_path(run_file).string() + ": cannot create (" + std::strerror(errno) + ")");
}

}  // namespace

std::filesystem::path run_dir_claim(Config& config) {
  const std::filesystem::path parent = config.run.dir;
  std::error_code ec;
  if (std::filesystem::exists(parent, ec) && !std::filesystem::is_directory(parent, ec)) {
    throw Error("run.dir=" + config.run.dir + " is not a directory; use a directory for the runs");
  }
  const std::string base = config.run.name;
  // Bounded: a folder with this many runs of one name is a mistake to report.
  constexpr int kMaxSuffix = 100000;
  for (int i = 1; i <= kMaxSuffix; ++i) {
    const std::string name = i == 1 ? base : base + "-" + std::to_string(i);
    if (run_dir_try_take(parent / name)) {
      config.run.name = name;
      return parent / name;
    }
  }
  throw Error("run.dir=" + config.run.dir + " already holds runs " + base + " to " + base + "-" +
              std::to_string(kMaxSuffix) + "; choose another run.name");
}

std::string run_dir_share_key(size_t index) { return "run-dir-" + std::to_string(index); }

Config resume_config(const std::filesystem::path& dir) {
  try {
    return config_from_json(RunReader::open(dir / "run.h5").config_json());
  } catch (const Error& e) {
    if (!checkpoint_list(dir).empty()) throw;
    throw Error(std::string(e.what()) + "\n" + dir.string() +
                " has no checkpoint either: it was stopped before its first step was saved, so "
                "there is nothing to resume; start it again with dlab train");
  }
}

}  // namespace dlab::cli
