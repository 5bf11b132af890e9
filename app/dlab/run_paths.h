// Where a run lives on disk.
#pragma once

#include <filesystem>

#include "common/config.h"

namespace dlab::cli {

// run.dir/run.name, or, when that directory already holds a run, the first free
// run.dir/run.name-2, -3, ... (a new run never overwrites an old one). Updates
// config.run.name to match.
std::filesystem::path run_dir_claim(Config& config);

}  // namespace dlab::cli
