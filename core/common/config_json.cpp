// JSON reading and writing of configs (nlohmann_json).
#include "common/config_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/config_schema.h"
#include "common/error.h"

namespace dlab {
namespace {

using Type = ConfigField::Type;
// ordered_json keeps insertion order, i.e. schema order, in the output.
using Json = nlohmann::ordered_json;

bool is_section(const std::string& key) {
  const auto& sections = config_sections();
  return std::find(sections.begin(), sections.end(), key) != sections.end();
}

// The JSON value of a field. Doubles are JSON numbers (nlohmann writes the
// shortest form that reads back exactly), except nan/inf which JSON lacks.
Json field_json(const ConfigField& field, const Config& config) {
  const std::string text = field.get(config);
  switch (field.type) {
    case Type::Int:
      return Json::parse(text);  // exact for every int64
    case Type::Float: {
      if (text == "nan" || text == "inf" || text == "-inf") return text;
      double value = 0;
      std::from_chars(text.data(), text.data() + text.size(), value);  // get() wrote it
      return value;
    }
    case Type::Bool:
      return text == "true";
    case Type::String:
    case Type::Choice:
      return text;
  }
  return text;
}

// The JSON value as the text ConfigField::set parses; false when its JSON type
// does not fit the field.
bool json_text(const Json& value, const ConfigField& field, std::string& text) {
  switch (field.type) {
    case Type::Int:
      if (!value.is_number_integer()) return false;
      text = value.dump();
      return true;
    case Type::Float:
      if (value.is_number_integer()) {
        text = value.dump();
        return true;
      }
      if (value.is_number_float()) {
        text = format_double(value.get<double>());
        return true;
      }
      if (value.is_string()) {
        const std::string s = value.get<std::string>();
        if (s != "nan" && s != "inf" && s != "-inf") return false;
        text = s;
        return true;
      }
      return false;
    case Type::String:
    case Type::Choice:
      if (!value.is_string()) return false;
      text = value.get<std::string>();
      return true;
    case Type::Bool:
      if (!value.is_boolean()) return false;
      text = value.get<bool>() ? "true" : "false";
      return true;
  }
  return false;
}

void apply_object(Config& config, const Json& object, const std::string& prefix,
                  const std::string& origin) {
  for (const auto& [name, value] : object.items()) {
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    if (is_section(key)) {
      if (!value.is_object()) {
        throw Error(origin + ": '" + key + "' must be an object, got " + value.dump());
      }
      apply_object(config, value, key, origin);
      continue;
    }
    const ConfigField* field = config_field_find(key);
    if (field == nullptr) {
      throw Error("unknown key '" + key + "' in " + origin + config_unknown_key_hint(key));
    }
    std::string text;
    if (!json_text(value, *field, text)) {
      throw Error(origin + ": " + key + " must be " + config_type_description(*field) + ", got " +
                  value.dump());
    }
    try {
      field->set(config, text);
    } catch (const Error& e) {
      throw Error(origin + ": " + e.what());
    }
  }
}

}  // namespace

std::string config_to_json(const Config& config, int indent) {
  Json root = Json::object();
  for (const ConfigField& field : config_schema()) {
    // "model.moe.top_k" -> root["model"]["moe"]["top_k"]
    Json* node = &root;
    std::string rest = field.key;
    for (size_t dot = rest.find('.'); dot != std::string::npos; dot = rest.find('.')) {
      node = &(*node)[rest.substr(0, dot)];
      rest = rest.substr(dot + 1);
    }
    (*node)[rest] = field_json(field, config);
  }
  // Invalid UTF-8 in a string field becomes U+FFFD instead of an exception.
  return root.dump(indent, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

Config config_from_json(const std::string& text, const std::string& origin) {
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::parse_error& e) {
    throw Error(origin + ": invalid JSON: " + e.what());
  }
  if (!root.is_object()) {
    throw Error(origin + ": a config must be a JSON object, got " + root.dump());
  }
  Config config;
  apply_object(config, root, "", origin);
  return config;
}

}  // namespace dlab
