// The one exception type the engine throws for user-facing problems: bad
// config values, unreadable files, unknown format versions. Its message is
// meant to be printed as is ("what, which value, what is allowed").
#pragma once

#include <stdexcept>
#include <string>

namespace dlab {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace dlab
