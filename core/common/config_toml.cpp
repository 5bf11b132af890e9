// TOML reading and writing of configs (tomlplusplus).
#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/config_io.h"
#include "common/config_schema.h"
#include "common/error.h"
#include "common/file_check.h"

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
  if (const auto* s = node.as_string()) {
    constexpr size_t kExcerptBytes = 60;  // a message quotes a short excerpt only
    const std::string& text = s->get();
    return "the string \"" + printable_text(text.substr(0, kExcerptBytes)) +
           (text.size() > kExcerptBytes ? "\"..." : "\"");
  }
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

// ---- limits, checked before toml++ parses ------------------------------------
// toml++ caps nested arrays and inline tables (256), but not dotted keys and
// table headers: "a.a.a...= 1" or "[a.a.a...]" builds one nested table per
// part, and the tables' destructors recurse once per level, so 100 000 parts
// overflow the stack. This lexical pass counts, for every key, the tables it
// opens (header parts + open brackets + key parts) and refuses more than
// kConfigMaxNesting. It skips strings and comments and stops at the first
// offending key; malformed text is left for the parser to report.
//
// It also refuses two things TOML 1.0 never allows and on which tomlplusplus
// 3.3 has undefined behaviour (found by the config_parse fuzzer): a control
// character other than tab, LF and CR anywhere (a NUL in a table header fails
// an assertion in parse_key), and a non-ASCII character outside strings and
// comments (U+FEF7 there reaches TOML_UNREACHABLE in its whitespace tables).
// And a [table] header that does not start with a key (an assertion in
// parse_key, an assumption in a release build).

class TomlNestingScan {
 public:
  TomlNestingScan(const std::string& text, const std::string& origin)
      : text_(text), origin_(origin) {}

  void run() {
    for (i_ = 0; i_ < text_.size(); ++i_) step(text_[i_]);
  }

 private:
  void step(char c) {
    control_check(c);
    if (c == '\n') {
      if (in_header_) {  // tomlplusplus 3.3 asserts on "[\n"
        throw Error(origin_ + ":" + std::to_string(line_) +
                    ": a [table] header must end with ']' on its own line");
      }
      ++line_;
      in_bare_ = false;
      if (open_.empty()) line_start();
      return;
    }
    if (in_bare_ && !bare_value_continues(c)) return;
    if (header_first_ && c != ' ' && c != '\t') header_start_check(c);
    if (c == '#') {
      while (i_ + 1 < text_.size() && text_[i_ + 1] != '\n') control_check(text_[++i_]);
      return;
    }
    if (static_cast<unsigned char>(c) >= 0x80 && !(i_ == 0 && text_.compare(0, 3, kBom) == 0)) {
      non_ascii_refuse();
    }
    if (i_ == 0 && text_.compare(0, 3, kBom) == 0) {  // a UTF-8 byte order mark
      i_ += 2;
      return;
    }
    if (c == '"' || c == '\'') {
      skip_string(c);
      return;
    }
    if (c == ' ' || c == '\t' || c == '\r') return;
    const bool first = at_line_start_;
    at_line_start_ = false;
    if (first && c == '[' && open_.empty()) {  // [table] or [[array.of.tables]]
      in_header_ = true;
      header_first_ = true;
      in_key_ = true;
      key_parts_ = 1;
      if (i_ + 1 < text_.size() && text_[i_ + 1] == '[') ++i_;
      return;
    }
    if (in_header_) {
      if (c == '.') count_part();
      if (c == ']') {
        in_header_ = false;
        in_key_ = false;
        header_parts_ = key_parts_;
        key_parts_ = 0;
        if (i_ + 1 < text_.size() && text_[i_ + 1] == ']') ++i_;
      }
      return;
    }
    if (in_key_) {
      if (c == '.') {
        count_part();
      } else if (c == '=') {
        in_key_ = false;
      } else if (key_parts_ == 0) {
        key_parts_ = 1;
        check();
      }
      return;
    }
    // A value.
    if (c == '[' || c == '{') {
      open_.push_back(c);
      check();
      if (c == '{') begin_key();
    } else if ((c == ']' || c == '}') && !open_.empty()) {
      open_.pop_back();
    } else if (c == ',' && !open_.empty() && open_.back() == '{') {
      begin_key();
    } else if (c != ',') {
      in_bare_ = true;  // a number, boolean or date: up to the next terminator
    }
  }

  static constexpr const char* kBom = "\xEF\xBB\xBF";

  void control_check(char c) const {
    const unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7f) {
      char code[8];
      std::snprintf(code, sizeof(code), "0x%02X", unsigned(u));
      throw Error(origin_ + ":" + std::to_string(line_) +
                  ": the TOML text has the control character " + code +
                  ", which TOML does not allow (inside a string, write it as an escape)");
    }
  }

  // A table header must begin with a key: tomlplusplus 3.3 asserts it (and
  // assumes it in a release build) without checking, e.g. for "[}rain]".
  void header_start_check(char c) {
    header_first_ = false;
    const bool bare = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-';
    if (!bare && c != '"' && c != '\'') {
      throw Error(origin_ + ":" + std::to_string(line_) +
                  ": a [table] header must start with a key (letters, digits, '_', '-', or a "
                  "quoted key)");
    }
  }

  // Inside a bare value (tomlplusplus reads it up to a terminator, classifying
  // every character, quotes and brackets included): false when `c` ends it
  // (whitespace, ',', ']', '}', '#'), so that the caller handles `c`. A
  // non-ASCII character in it is refused.
  bool bare_value_continues(char c) {
    if (c == ' ' || c == '\t' || c == '\r' || c == ',' || c == ']' || c == '}' || c == '#') {
      in_bare_ = false;
      return true;
    }
    if (static_cast<unsigned char>(c) >= 0x80) non_ascii_refuse();
    return false;
  }

  [[noreturn]] void non_ascii_refuse() const {
    throw Error(origin_ + ":" + std::to_string(line_) +
                ": the TOML text has a non-ASCII character outside a string or comment; TOML "
                "keys, values and whitespace are ASCII (quote a key that needs other characters)");
  }

  // After a backslash in a multi-line basic string, tomlplusplus classifies
  // the next character, and after a line-ending backslash every following one,
  // as whitespace or not; a non-ASCII one there reaches its TOML_UNREACHABLE
  // (see above). i_ is on the '\\'.
  void line_continuation_check() {
    size_t j = i_ + 1;
    while (j < text_.size() &&
           (text_[j] == ' ' || text_[j] == '\t' || text_[j] == '\r' || text_[j] == '\n')) {
      ++j;
    }
    // (j == i_ + 1: the character right after the backslash is classified too.)
    if (j < text_.size() && static_cast<unsigned char>(text_[j]) >= 0x80) {
      throw Error(origin_ + ":" + std::to_string(line_) +
                  ": the TOML text has a non-ASCII character after a backslash in a multi-line "
                  "string, which the TOML reader cannot classify; put an ASCII character "
                  "first (an escape such as \\u00E9 is fine)");
    }
  }

  void line_start() {
    at_line_start_ = true;
    begin_key();
  }

  void begin_key() {
    in_key_ = true;
    key_parts_ = 0;
  }

  void count_part() {
    ++key_parts_;
    check();
  }

  void check() const {
    const size_t depth = header_parts_ + open_.size() + key_parts_;
    if (depth > size_t(kConfigMaxNesting)) {
      throw Error(origin_ + ":" + std::to_string(line_) +
                  ": the TOML text nests tables, arrays and dotted keys more than " +
                  std::to_string(kConfigMaxNesting) +
                  " levels deep; a config nests 3 levels, and DepthLab reads at most " +
                  std::to_string(kConfigMaxNesting));
    }
  }

  // Skips a basic ("...", with escapes) or literal ('...') string, single- or
  // multi-line (three quotes); leaves i_ on its last character.
  void skip_string(char quote) {
    at_line_start_ = false;
    if (in_key_ && key_parts_ == 0) {
      key_parts_ = 1;  // a quoted key is one part
      check();
    }
    const bool multi = text_.compare(i_, 3, std::string(3, quote)) == 0;
    i_ += multi ? 3 : 1;
    for (; i_ < text_.size(); ++i_) {
      const char c = text_[i_];
      control_check(c);
      if (c == '\n') ++line_;
      if (quote == '"' && c == '\\') {
        if (multi) line_continuation_check();
        ++i_;
        continue;
      }
      if (c != quote) continue;
      if (!multi) return;
      if (text_.compare(i_, 3, std::string(3, quote)) == 0) {
        i_ += 2;
        while (i_ + 1 < text_.size() && text_[i_ + 1] == quote) ++i_;  // """a"""" ends in quotes
        return;
      }
    }
  }

  const std::string& text_;
  const std::string& origin_;
  size_t i_ = 0;
  size_t line_ = 1;
  bool at_line_start_ = true;
  bool in_header_ = false;
  bool header_first_ = false;
  bool in_bare_ = false;  // inside a bare value (number, boolean, date)  // the next significant
                          // character starts the header's key
  bool in_key_ = true;
  size_t key_parts_ = 0;     // parts of the key being read
  size_t header_parts_ = 0;  // parts of the last [table] header
  std::string open_;         // the open '[' and '{' of the current value
};

void toml_text_check(const std::string& text, const std::string& origin) {
  if (text.size() > kConfigTextMaxBytes) {
    throw Error(origin + ": the config is " + std::to_string(text.size()) +
                " bytes long; DepthLab reads at most " + std::to_string(kConfigTextMaxBytes) +
                " bytes of TOML config");
  }
  TomlNestingScan(text, origin).run();
}

}  // namespace

Config config_from_toml(const std::string& text, const std::string& origin) {
  toml_text_check(text, origin);
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
  namespace fs = std::filesystem;
  // Checked before opening: a FIFO would block the open, /dev/zero never ends.
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) throw Error("cannot read the config file " + path.string());
  if (!fs::is_regular_file(st)) {
    throw Error("cannot read the config file " + path.string() + ": it is " + file_kind_text(st) +
                ", not a regular file");
  }
  const uintmax_t size = fs::file_size(path, ec);
  if (!ec && size > kConfigTextMaxBytes) {
    throw Error("the config file " + path.string() + " is " + std::to_string(size) +
                " bytes long; DepthLab reads at most " + std::to_string(kConfigTextMaxBytes) +
                " bytes of TOML config");
  }
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
