// The table that describes every field of dlab::Config (config.h): its dotted
// key, type, default, allowed values and a one-line doc (the GUI's tooltip).
//
// Everything that reads or writes a config by key walks this one table: TOML
// and JSON parsing, `--set`, `--sweep`, the GUI form, docs/config.md. Adding a
// field to config.h means adding one entry in config_schema.cpp; the tests fail
// until the docs list it too.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/config.h"

namespace dlab {

struct ConfigField {
  enum class Type { Int, Float, String, Choice, Bool };

  std::string key;  // "model.n_heads", "model.moe.top_k"
  Type type = Type::Int;
  std::string doc;                   // one line: meaning, units, allowed values
  std::vector<std::string> choices;  // Type::Choice only: the allowed strings
  std::string default_value;         // get(Config{}), as text
  // Type::Int: the largest value the engine accepts (config_validate refuses
  // more), 0 for none. Far above any lab-scale run, low enough that every size
  // computed from the fields fits in 64 bits and a typo is refused before
  // anything allocates; whether a run fits this machine's memory is checked
  // separately (config_resources.h).
  int64_t max_value = 0;

  // The field's value as text: integers in decimal, doubles in the shortest
  // form that reads back exactly (format_double), strings as they are.
  std::function<std::string(const Config&)> get;
  // Parses `text` and stores it. Throws dlab::Error naming the key and the
  // text, e.g. "model.n_heads=abc is not an integer". Choice fields accept any
  // string here; config_validate reports values outside `choices`, so that all
  // problems of a config can be listed together.
  std::function<void(Config&, const std::string& text)> set;

  std::string section() const;  // "model.moe" for "model.moe.top_k"
  std::string name() const;     // "top_k" for "model.moe.top_k"
};

// Every field of Config, grouped by section in the order run, model,
// model.moe, data, train (the order of TOML/JSON output and of the GUI form).
const std::vector<ConfigField>& config_schema();

// The TOML sections: "run", "model", "model.moe", "data", "train".
const std::vector<std::string>& config_sections();

// The field with this key, or nullptr.
const ConfigField* config_field_find(const std::string& key);

// What to append to an "unknown key 'x'" message: "; did you mean 'y'?" for a
// close key (or the same name in another section), otherwise the list of
// keys in that section, or the list of sections.
std::string config_unknown_key_hint(const std::string& key);

// How a type reads in messages: "an integer", "a number", "a string",
// "true or false", "one of none, layernorm_scaling".
std::string config_type_description(const ConfigField& field);

// The keys whose values differ between a and b, in schema order.
std::vector<std::string> config_diff(const Config& a, const Config& b);

// The shortest decimal text that reads back as exactly `value` ("0.1",
// "0.0003", "1e-08", "10000"); "nan", "inf", "-inf" for non-finite values.
// Independent of the C locale.
std::string format_double(double value);

}  // namespace dlab
