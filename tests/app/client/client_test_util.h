// Helpers of the client tests: a fresh directory per test, and (from
// tests/app/dlab/serve) a real `dlab serve` child process and wait_until().
#pragma once

#include <filesystem>
#include <string>

#include "serve_test_client.h"
#include "test_dir.h"

namespace dlab::test {

inline std::filesystem::path client_test_dir(const std::string& name) {
  return test_dir_fresh("client", name);
}

}  // namespace dlab::test
