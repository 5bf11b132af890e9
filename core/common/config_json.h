// The config as JSON, for run files, checkpoints and the GUI/worker protocol.
//
// Nested by section in schema order:
//   {"run":{"name":"run",...},"model":{"n_layers":4,...,"moe":{"n_experts":0,...}},
//    "data":{...},"train":{...}}
// Integers are JSON integers, doubles JSON numbers in their shortest exact form
// (non-finite doubles, which config_check refuses but a round trip must keep,
// are the strings "nan", "inf" and "-inf"), strings JSON strings.
#pragma once

#include <cstddef>
#include <string>

#include "common/config.h"

namespace dlab {

// Limits on config text that comes from a file (a TOML config, the JSON config
// attribute of run.h5 or a checkpoint, a protocol body): checked before any
// parser runs, so a hostile text cannot exhaust memory or the stack (parsers
// and printers recurse once per nesting level). A real config is about 3 KiB
// and nests 3 levels (model.moe.top_k).
inline constexpr size_t kConfigTextMaxBytes = size_t(1) << 20;  // 1 MiB
inline constexpr int kConfigMaxNesting = 64;

// Throws dlab::Error("<origin>: ...") when `text` is longer than `max_bytes` or
// nests JSON arrays/objects deeper than `max_depth`. One pass, no recursion, no
// allocation; does not check that the text is valid JSON (the parser does).
void json_text_check(const std::string& text, const std::string& origin,
                     size_t max_bytes = kConfigTextMaxBytes, int max_depth = kConfigMaxNesting);

// indent < 0: one line; otherwise pretty-printed with that many spaces.
std::string config_to_json(const Config& config, int indent = -1);

// The inverse of config_to_json. Keys left out keep their defaults (so files
// written before a field existed still load); unknown keys, wrong JSON types and
// malformed JSON throw dlab::Error, with `origin` naming the text. Checks
// json_text_check's limits first; messages quote at most a short excerpt of a
// value, never a whole subtree.
Config config_from_json(const std::string& text, const std::string& origin = "config JSON");

}  // namespace dlab
