// `--set key=value` and `--sweep key=v1,v2,...`.
#include <algorithm>
#include <cctype>

#include "common/config_io.h"
#include "common/config_schema.h"
#include "common/error.h"

namespace dlab {
namespace {

std::string trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const size_t end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

// The field named by `key`; `where` is the whole argument, for messages.
const ConfigField& field_for(const std::string& key, const std::string& where) {
  const ConfigField* field = config_field_find(key);
  if (field != nullptr) return *field;
  // A section alone ("--set model=4"): point at one of its keys.
  for (const ConfigField& f : config_schema()) {
    if (f.section() == key) {
      throw Error("'" + key + "' in " + where + " is a section; name one of its keys, e.g. " +
                  f.key);
    }
  }
  throw Error("unknown key '" + key + "' in " + where + config_unknown_key_hint(key));
}

// String values may be quoted as in TOML ("run.name=\"a\""); the quotes go
// and what they enclose is kept exactly (values are trimmed before this).
std::string unquote(const ConfigField& field, const std::string& value) {
  const bool is_text =
      field.type == ConfigField::Type::String || field.type == ConfigField::Type::Choice;
  if (is_text && value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    return value.substr(1, value.size() - 2);
  }
  return value;
}

// What a sweep value adds to a run name: letters, digits, '.', '-', '_' kept,
// anything else (a '/' of a path, a ':' of cuda:1) becomes '_'.
std::string name_safe(const std::string& value) {
  std::string out = value;
  for (char& ch : out) {
    const bool keep =
        std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '_';
    if (!keep) ch = '_';
  }
  return out;
}

}  // namespace

void config_set(Config& config, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos) {
    throw Error("--set expects key=value (e.g. train.lr=1e-3), got '" + assignment + "'");
  }
  const std::string key = trim(assignment.substr(0, eq));
  const ConfigField& field = field_for(key, "--set " + assignment);
  field.set(config, unquote(field, trim(assignment.substr(eq + 1))));
}

std::vector<Config> config_expand_sweep(const Config& base, const std::string& sweep) {
  const size_t eq = sweep.find('=');
  if (eq == std::string::npos) {
    throw Error("--sweep expects key=value1,value2,... (e.g. model.n_layers=4,8,16), got '" +
                sweep + "'");
  }
  const std::string key = trim(sweep.substr(0, eq));
  const ConfigField& field = field_for(key, "--sweep " + sweep);
  if (key == "run.name") {
    throw Error("--sweep " + sweep +
                ": run.name cannot be swept; a sweep names its runs <run.name>-<key><value>");
  }

  std::vector<std::string> values;
  const std::string list = sweep.substr(eq + 1);
  size_t start = 0;
  while (true) {
    const size_t comma = list.find(',', start);
    const std::string value =
        trim(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (value.empty()) {
      throw Error("--sweep " + sweep + " has an empty value; separate the values by single commas");
    }
    if (std::find(values.begin(), values.end(), value) != values.end()) {
      throw Error("--sweep " + sweep + " lists " + value +
                  " twice; each value names a run, so the values must differ");
    }
    values.push_back(value);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }

  std::vector<Config> runs;
  for (const std::string& value : values) {
    Config run = base;
    field.set(run, unquote(field, value));
    run.run.name = base.run.name + "-" + field.name() + name_safe(unquote(field, value));
    runs.push_back(run);
  }
  return runs;
}

}  // namespace dlab
