// Checks a config for every value the engine cannot run with, before anything
// starts. Pure: it reads no files and needs no GPU, so a GUI can validate a
// config meant for a remote worker. (Whether data.corpus exists is checked when
// the data is prepared.)
#pragma once

#include <string>
#include <vector>

#include "common/config.h"

namespace dlab {

// Every problem, one message each, in schema order; empty = valid. Each message
// reads "<key>=<value> <what is wrong>; <what is allowed>" (docs/config.md lists
// them all).
std::vector<std::string> config_validate(const Config& config);

// Throws dlab::Error("invalid config:\n  <problem 1>\n  <problem 2>...") when
// config_validate finds anything.
void config_check(const Config& config);

// The model section's problems alone, the same messages (the one place the
// model rules live: the Transformer constructor refuses a model with these).
std::vector<std::string> model_config_validate(const ModelConfig& model);

// A text as the messages show it: bytes below 0x20, 0x7f and every non-ASCII
// byte as \xNN, so that a message never carries a control character.
std::string printable_text(const std::string& text);

}  // namespace dlab
