// Where a run lives on disk.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "common/config.h"

namespace dlab::cli {

// run.dir/run.name, or, when that directory already holds a run, the first free
// run.dir/run.name-2, -3, ... (a new run never overwrites an old one). Updates
// config.run.name to match.
std::filesystem::path run_dir_claim(Config& config);

// The store key under which rank 0 of a data-parallel run publishes the
// directory it claimed for the sweep's run `index` (0 for a single run); the
// other ranks, `dlab train` processes, read it there.
std::string run_dir_share_key(size_t index);

}  // namespace dlab::cli
