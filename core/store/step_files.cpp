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
    const int64_t step = step_file_number(it->path());
    if (step < 0) continue;
    std::error_code file_ec;
    if (!it->is_regular_file(file_ec)) continue;
    out.emplace_back(step, it->path());
  }
  if (ec) throw Error(dir.string() + ": cannot list (" + ec.message() + ")");
  std::sort(out.begin(), out.end());
  return out;
}

int64_t step_file_number(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  if (name.size() < 9 || name.rfind("step-", 0) != 0 ||
      name.compare(name.size() - 3, 3, ".h5") != 0) {
    return -1;
  }
  const std::string digits = name.substr(5, name.size() - 8);
  if (digits.empty() || digits.size() > 18 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return -1;
  }
  return std::stoll(digits);  // 18 digits always fit
}

void step_file_check(const std::filesystem::path& path, int64_t step, const std::string& kind) {
  if (step < 0) {
    throw Error(path.string() + ": the " + kind + "'s attribute 'step' is " + std::to_string(step) +
                "; a step is 0 or more");
  }
  const int64_t named = step_file_number(path);
  if (named >= 0 && named != step) {
    throw Error(path.string() + ": the " + kind + "'s attribute 'step' is " + std::to_string(step) +
                " but its name says step " + std::to_string(named) +
                "; it was renamed or copied over another " + kind +
                ", so neither number can be trusted (rename it to step-" + std::to_string(step) +
                ".h5 if its content is right)");
  }
}

}  // namespace dlab
