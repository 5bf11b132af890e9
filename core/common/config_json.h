// The config as JSON, for run files, checkpoints and the GUI/worker protocol.
//
// Nested by section in schema order:
//   {"run":{"name":"run",...},"model":{"n_layers":4,...,"moe":{"n_experts":0,...}},
//    "data":{...},"train":{...}}
// Integers are JSON integers, doubles JSON numbers in their shortest exact form
// (non-finite doubles, which config_check refuses but a round trip must keep,
// are the strings "nan", "inf" and "-inf"), strings JSON strings.
#pragma once

#include <string>

#include "common/config.h"

namespace dlab {

// indent < 0: one line; otherwise pretty-printed with that many spaces.
std::string config_to_json(const Config& config, int indent = -1);

// The inverse of config_to_json. Keys left out keep their defaults (so files
// written before a field existed still load); unknown keys, wrong JSON types and
// malformed JSON throw dlab::Error, with `origin` naming the text.
Config config_from_json(const std::string& text, const std::string& origin = "config JSON");

}  // namespace dlab
