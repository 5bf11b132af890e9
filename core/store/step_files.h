// Files named step-<N>.h5 in one folder of a run (checkpoints/, analysis/).
#pragma once

#include <cstdint>
#include <filesystem>
#include <utility>
#include <vector>

namespace dlab {

// Regular files named exactly step-<digits>.h5 in `dir`, sorted by step; an
// absent folder gives an empty list. Anything else there (".tmp" leftovers of
// an interrupted write, other names) is skipped.
std::vector<std::pair<int64_t, std::filesystem::path>> step_files_list(
    const std::filesystem::path& dir);

}  // namespace dlab
