// Named experiment presets: resources/presets/<name>.toml.
//
// A name is looked up as <name>.toml in, in this order:
//   1. every directory of $DEPTHLAB_PRESETS (':'-separated, like PATH),
//   2. the installed copy, <exe>/../share/depthlab/presets (install_paths.h),
//   3. the source tree's resources/presets (DEPTHLAB_SOURCE_PRESETS_DIR), for a build tree.
// The first hit wins, so a user directory can shadow a shipped preset.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"

namespace dlab {

// The search directories above that exist, in search order.
std::vector<std::string> preset_dirs();

// The preset names (file stems of *.toml), sorted: those in `dir`, or, when
// `dir` is empty, those of every search directory (each name once).
std::vector<std::string> preset_names(const std::string& dir = "");

// Loads a preset by name ("demo"), or a TOML file when the argument ends in
// ".toml" or contains a '/'. Does not validate (see config_check). Throws
// dlab::Error for an unknown name, listing the available ones.
Config preset_load(const std::string& name_or_path);

}  // namespace dlab
