// TOML reading and writing of configs (tomlplusplus).
#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/config_io.h"
#include "common/config_schema.h"
#include "common/error.h"

namespace dlab {
namespace {

using Type = ConfigField::Type;

std::string position(const std::string& origin, const toml::source_region& where) {
  return origin + ":" + std::to_string(where.begin.line) + ":" + std::to_string(where.begin.column);
}

bool is_section(const std::string& key) {
  const auto& sections = config_sections();
  return std::find(sections.begin(), sections.end(), key) != sections.end();
}

// How a TOML value reads in a type error: `the string "four"`, `the number 4.5`.
std::string node_description(const toml::node& node) {
  if (const auto* s = node.as_string()) return "the string \"" + s->get() + "\"";
  if (const auto* i = node.as_integer()) return "the integer " + std::to_string(i->get());
  if (const auto* f = node.as_floating_point()) return "the number " + format_double(f->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  if (node.is_table()) return "a table";
  if (node.is_array()) return "an array";
  return "a date/time";
}

// The TOML value as the text ConfigField::set parses; false when its TOML
// type does not fit the field (an integer is fine for a float field).
bool node_text(const toml::node& node, const ConfigField& field, std::string& text) {
  switch (field.type) {
    case Type::Int:
      if (const auto* i = node.as_integer()) {
        text = std::to_string(i->get());
        return true;
      }
      return false;
    case Type::Float:
      if (const auto* f = node.as_floating_point()) {
        text = format_double(f->get());
        return true;
      }
      if (const auto* i = node.as_integer()) {
        text = std::to_string(i->get());
        return true;
      }
      return false;
    case Type::String:
    case Type::Choice:
      if (const auto* s = node.as_string()) {
        text = s->get();
        return true;
      }
      return false;
    case Type::Bool:
      if (const auto* b = node.as_boolean()) {
        text = b->get() ? "true" : "false";
        return true;
      }
      return false;
  }
  return false;
}

void apply_table(Config& config, const toml::table& table, const std::string& prefix,
                 const std::string& origin) {
  for (const auto& [toml_key, node] : table) {
    const std::string key =
        prefix.empty() ? std::string(toml_key.str()) : prefix + "." + std::string(toml_key.str());
    const std::string where = position(origin, toml_key.source());
    if (is_section(key)) {
      if (!node.is_table()) {
        throw Error(where + ": '" + key + "' must be the section [" + key + "], got " +
                    node_description(node));
      }
      apply_table(config, *node.as_table(), key, origin);
      continue;
    }
    const ConfigField* field = config_field_find(key);
    if (field == nullptr) {
      throw Error("unknown key '" + key + "' in " + where + config_unknown_key_hint(key));
    }
    std::string text;
    if (!node_text(node, *field, text)) {
      throw Error(where + ": " + key + " must be " + config_type_description(*field) + ", got " +
                  node_description(node));
    }
    try {
      field->set(config, text);
    } catch (const Error& e) {
      throw Error(where + ": " + e.what());
    }
  }
}

// A TOML basic string: quotes, backslashes and control characters escaped.
std::string toml_quote(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const unsigned char u = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          char buffer[8];
          std::snprintf(buffer, sizeof(buffer), "\\u%04X", unsigned(u));
          out += buffer;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string toml_value(const ConfigField& field, const Config& config) {
  const std::string text = field.get(config);
  switch (field.type) {
    case Type::Int:
    case Type::Bool:
      return text;
    case Type::Float:
      // "10000" would read back as a TOML integer; keep it visibly a float.
      if (text.find_first_of(".en") == std::string::npos) return text + ".0";
      return text;
    case Type::String:
    case Type::Choice:
      return toml_quote(text);
  }
  return text;
}

}  // namespace

Config config_from_toml(const std::string& text, const std::string& origin) {
  toml::table table;
  try {
    table = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    throw Error(position(origin, e.source()) +
                ": TOML syntax error: " + std::string(e.description()));
  }
  Config config;
  apply_table(config, table, "", origin);
  return config;
}

Config config_from_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read the config file " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return config_from_toml(text.str(), path.string());
}

std::string config_to_toml(const Config& config) {
  std::string out;
  std::string section;
  for (const ConfigField& field : config_schema()) {
    if (field.section() != section) {
      section = field.section();
      out += (out.empty() ? "[" : "\n[") + section + "]\n";
    }
    out += field.name() + " = " + toml_value(field, config) + "\n";
  }
  return out;
}

}  // namespace dlab
