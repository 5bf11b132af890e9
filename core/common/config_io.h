// Reading and writing configs as text: TOML files, `--set key=value`
// overrides and `--sweep key=v1,v2,...` expansions. Includes the JSON and
// validation headers, so that one include gives a program everything it needs
// to load, override, check and store a config.
//
// None of these functions validates: load, apply overrides, then call
// config_check (config_validate.h) once on the result.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/config_json.h"
#include "common/config_validate.h"

namespace dlab {

// Parses a TOML document with the sections [run] [model] [model.moe] [data]
// [train]; keys left out keep their defaults (config.h). `origin` names the
// text in messages (usually the file name). Throws dlab::Error for TOML syntax
// errors ("<origin>:<line>:<col>: TOML syntax error: ..."), unknown keys (with a
// did-you-mean), values of the wrong TOML type and unparsable values.
Config config_from_toml(const std::string& text, const std::string& origin);

// config_from_toml on a file's contents, with the path as origin.
Config config_from_file(const std::filesystem::path& path);

// Every field, section by section in schema order; config_from_toml reads it
// back to an identical Config (doubles are written in their shortest exact form).
std::string config_to_toml(const Config& config);

// Applies one override "section.key=value", e.g. "train.lr=1e-3" or
// "model.moe.n_experts=8". Whitespace around the key and the value is dropped;
// the value is parsed as the field's type; a string value may be wrapped in
// double quotes (kept exactly inside them). Throws dlab::Error for a missing '=',
// an unknown key (with a did-you-mean) or an unparsable value.
void config_set(Config& config, const std::string& assignment);

// Expands "key=v1,v2,..." into one Config per value, in the given order: a copy
// of `base` with the key set to the value and run.name suffixed with
// "-<name><value>", where <name> is the part of the key after its last '.' and
// <value> is the value as typed, with every character other than a letter,
// digit, '.', '-' or '_' replaced by '_' (model.n_layers=4,8 on run "depth"
// gives "depth-n_layers4", "depth-n_layers8"). Throws dlab::Error for a
// malformed sweep, an unknown key, run.name, an empty or repeated value, or a
// value that does not parse.
std::vector<Config> config_expand_sweep(const Config& base, const std::string& sweep);

}  // namespace dlab
