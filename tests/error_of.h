// The message of the dlab::Error that `f` throws, or "(no error)" when it
// throws none; any other exception escapes and fails the test. Shared by the
// suites that check error messages (include as "error_of.h").
#pragma once

#include <string>

#include "common/error.h"

namespace dlab::test {

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const dlab::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace dlab::test
