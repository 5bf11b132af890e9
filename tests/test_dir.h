// A fresh, empty directory for one test, the same for every suite:
// $DEPTHLAB_TEST_TMP/<area>/<name>-<pid> (under the system temp directory
// when the variable is unset). Removed and made again, so a rerun starts
// clean; the pid keeps the processes of a parallel ctest apart.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace dlab::test {

inline std::filesystem::path test_dir_fresh(const std::string& area, const std::string& name) {
  const char* env = std::getenv("DEPTHLAB_TEST_TMP");
  const std::filesystem::path base = env && *env
                                         ? std::filesystem::path(env)
                                         : std::filesystem::temp_directory_path() / "depthlab";
  const std::filesystem::path dir = base / area / (name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace dlab::test
