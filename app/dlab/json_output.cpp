#include "json_output.h"

#include <fstream>
#include <iostream>

#include "common/error.h"

namespace dlab::cli {

bool json_output_write(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::cout << text;
    return true;
  }
  std::ofstream out(path);
  out << text;
  if (!out) throw Error("--json " + path + ": cannot write the file");
  return false;
}

}  // namespace dlab::cli
