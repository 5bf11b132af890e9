#include "store/step_files.h"

#include <algorithm>
#include <string>
#include <system_error>

#include "common/error.h"

namespace dlab {

std::vector<std::pair<int64_t, std::filesystem::path>> step_files_list(
    const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::vector<std::pair<int64_t, fs::path>> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() < 9 || name.rfind("step-", 0) != 0 ||
        name.compare(name.size() - 3, 3, ".h5") != 0) {
      continue;
    }
    const std::string digits = name.substr(5, name.size() - 8);
    if (digits.empty() || digits.size() > 18 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    std::error_code file_ec;
    if (!it->is_regular_file(file_ec)) continue;
    out.emplace_back(std::stoll(digits), it->path());
  }
  if (ec) throw Error(dir.string() + ": cannot list (" + ec.message() + ")");
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace dlab
