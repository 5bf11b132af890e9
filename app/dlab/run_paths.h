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

// The config a resume continues with (`dlab train --resume`, `continue` in
// dlab serve): the one in the run's run.h5. A run killed while it created
// run.h5 has nothing to resume yet: said so, not just that the file is unreadable.
Config resume_config(const std::filesystem::path& dir);

}  // namespace dlab::cli
