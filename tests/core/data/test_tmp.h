// A fresh, empty temporary directory per test: $DEPTHLAB_TEST_TMP (set by
// CTest) or the system temp dir, then test_data-<pid>/<suite>.<test>.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.h"
#include "data/tokenizer.h"
#include "error_of.h"  // dlab::test::error_of
#include "test_dir.h"

namespace dlab::test {

inline std::filesystem::path fresh_tmp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string name =
      info ? std::string(info->test_suite_name()) + "." + info->name() : std::string("suite");
  return test_dir_fresh("data", name);
}

inline void write_text(const std::filesystem::path& p, const std::string& s) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

}  // namespace dlab::test

// SentencePiece cannot be loaded in ASan/TSan builds (see data/spm_bridge.h):
// there the tests that need it are skipped. Anywhere else an unavailable
// plugin is a failure, not a skip.
#define DEPTHLAB_REQUIRE_SENTENCEPIECE()                                     \
  do {                                                                       \
    std::string why_;                                                        \
    if (!dlab::tokenizer_sentencepiece_available(&why_)) {                   \
      if (why_.find("sanitizer") != std::string::npos) GTEST_SKIP() << why_; \
      FAIL() << why_;                                                        \
    }                                                                        \
  } while (0)
