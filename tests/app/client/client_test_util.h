// Helpers of the client tests: a fresh directory per test, and (from
// tests/app/dlab/serve) a real `dlab serve` child process and wait_until().
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "serve_test_client.h"

namespace dlab::test {

inline std::filesystem::path client_test_dir(const std::string& name) {
  const char* env = std::getenv("DEPTHLAB_TEST_TMP");
  const std::filesystem::path base = env && *env
                                         ? std::filesystem::path(env)
                                         : std::filesystem::temp_directory_path() / "depthlab";
  const auto dir = base / "client" / (name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace dlab::test
