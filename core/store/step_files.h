// Files named step-<N>.h5 in one folder of a run (checkpoints/, analysis/).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace dlab {

// Regular files named exactly step-<digits>.h5 in `dir`, sorted by step; an
// absent folder gives an empty list. Anything else there (".tmp" leftovers of
// an interrupted write, other names) is skipped.
std::vector<std::pair<int64_t, std::filesystem::path>> step_files_list(
    const std::filesystem::path& dir);

// N when the file name of `path` is exactly step-<N>.h5 (1 to 18 digits), else -1.
int64_t step_file_number(const std::filesystem::path& path);

// Throws dlab::Error when a file named step-<N>.h5 says, in its `step`
// attribute, that it holds another step (a copied or renamed file: trusting
// either number would resume or analyse the wrong state), or when `step` is
// negative. `kind` names the file in the message ("checkpoint").
void step_file_check(const std::filesystem::path& path, int64_t step, const std::string& kind);

}  // namespace dlab
