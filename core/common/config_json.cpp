// JSON reading and writing of configs (nlohmann_json).
#include "common/config_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/config_schema.h"
#include "common/config_validate.h"
#include "common/error.h"

namespace dlab {
namespace {

using Type = ConfigField::Type;
// ordered_json keeps insertion order, i.e. schema order, in the output.
using Json = nlohmann::ordered_json;

// Longest excerpt of a value quoted in a message.
constexpr size_t kExcerptBytes = 80;

// A JSON value as a message quotes it: compact JSON, cut to kExcerptBytes
// ("[1]", "\"four\"", "{\"a\": ..."). dump() recurses once per nesting level;
// json_text_check has bounded that before the text was parsed.
std::string json_brief(const Json& value) {
  const std::string text =
      value.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
  if (text.size() <= kExcerptBytes) return text;
  size_t end = kExcerptBytes;  // not inside a UTF-8 character
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end) + "...";
}

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
        throw Error(origin + ": '" + key + "' must be an object, got " + json_brief(value));
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
                  json_brief(value));
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

void json_text_check(const std::string& text, const std::string& origin, size_t max_bytes,
                     int max_depth) {
  if (text.size() > max_bytes) {
    throw Error(origin + ": the JSON text is " + std::to_string(text.size()) +
                " bytes long; DepthLab reads at most " + std::to_string(max_bytes) +
                " bytes of config JSON");
  }
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        throw Error(origin + ": the JSON text nests arrays and objects more than " +
                    std::to_string(max_depth) + " levels deep (at byte " + std::to_string(i) +
                    "); a config nests 3 levels, and DepthLab reads at most " +
                    std::to_string(max_depth));
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

Config config_from_json(const std::string& text, const std::string& origin) {
  json_text_check(text, origin);
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::exception& e) {
    // parse_error, and out_of_range for a number past double ("1e999": found by
    // the config_parse fuzzer; it escaped as an uncaught exception).
    // The parser quotes the token it choked on, which can be a whole long string.
    const std::string what = e.what();
    const size_t max = 3 * kExcerptBytes;
    throw Error(origin + ": invalid JSON: " + printable_text(what.substr(0, max)) +
                (what.size() > max ? "..." : ""));
  }
  if (!root.is_object()) {
    throw Error(origin + ": a config must be a JSON object, got " + json_brief(root));
  }
  Config config;
  apply_object(config, root, "", origin);
  return config;
}

}  // namespace dlab
