// Helpers for the suites that check error messages (include as "error_of.h"):
// error_of() gives the message of the dlab::Error that `f` throws, or
// "(no error)" when it throws none (any other exception escapes and fails the
// test); contains() checks that a message names something.
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

// Whether `part` occurs in `text` (for checking that a message names something).
inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace dlab::test
