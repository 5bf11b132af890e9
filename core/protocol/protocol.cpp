#include "protocol/protocol.h"

#include <limits>
#include <map>

namespace dlab::protocol {
namespace {

using json = nlohmann::json;

enum class Kind { String, Int, Object, StringArray, ObjectArray };

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

struct Field {
  const char* name;
  Kind kind;
  bool required;
  // Kind::Int: the allowed range, checked on the value as a 64-bit integer
  // before anything converts it (a value past it is refused, never wrapped).
  // Ranges that depend on the server or the model (ranks, positions, from_seq)
  // are checked again there, in 64 bits too.
  int64_t min = 0;
  int64_t max = kInt64Max;
};

struct TypeSpec {
  bool needs_run;
  std::vector<Field> fields;
};

// The body schema of every client request type (docs/protocol.md, "Requests").
const std::map<std::string, TypeSpec>& type_specs() {
  static const std::map<std::string, TypeSpec> specs = {
      {type::kHello, {false, {{"token", Kind::String, false}, {"telemetry", Kind::String, false}}}},
      {type::kServerInfo, {false, {}}},
      {type::kPing, {false, {}}},
      {type::kListRuns, {false, {}}},
      {type::kStart,
       {false,
        {{"config", Kind::Object, false},
         {"preset", Kind::String, false},
         {"set", Kind::StringArray, false},
         {"ranks", Kind::Int, false, 1}}}},
      {type::kContinue,
       {true, {{"set", Kind::StringArray, false}, {"ranks", Kind::Int, false, 1}}}},
      {type::kSweep,
       {false,
        {{"config", Kind::Object, false},
         {"preset", Kind::String, false},
         {"set", Kind::StringArray, false},
         {"sweep", Kind::String, true},
         {"ranks", Kind::Int, false, 1}}}},
      {type::kListSweeps, {false, {}}},
      {type::kCancelSweep, {false, {{"sweep", Kind::String, true}}}},
      {type::kStop, {true, {}}},
      {type::kPause, {true, {}}},
      {type::kResume, {true, {}}},
      {type::kSubscribe, {true, {{"from_seq", Kind::Int, false}}}},
      {type::kUnsubscribe, {true, {}}},
      {type::kEvaluate,
       {true,
        {{"plan", Kind::ObjectArray, true},
         {"checkpoint_step", Kind::Int, false},
         {"samples", Kind::Int, false, 1, kMaxSamples}}}},
      {type::kAnalyze,
       {true,
        {{"analyses", Kind::StringArray, false},
         {"checkpoint_step", Kind::Int, false},
         {"samples", Kind::Int, false, 1, kMaxSamples}}}},
      {type::kJacobian,
       {true,
        {{"position", Kind::Int, true},
         {"checkpoint_step", Kind::Int, false},
         {"samples", Kind::Int, false, 1, kMaxSamples}}}},
  };
  return specs;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::String:
      return "a string";
    case Kind::Int:
      return "a non-negative integer";
    case Kind::Object:
      return "an object";
    case Kind::StringArray:
      return "an array of strings";
    case Kind::ObjectArray:
      return "an array of objects";
  }
  return "?";
}

// At most `max` bytes of `s`, cut on a character boundary (error texts quote
// client values; a cut inside a character would make the reply unencodable).
std::string utf8_prefix(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// "a non-negative integer", "an integer >= 1", "an integer in 1..1024".
std::string range_text(int64_t min, int64_t max) {
  if (max == kInt64Max) {
    return min == 0 ? "a non-negative integer" : "an integer >= " + std::to_string(min);
  }
  return "an integer in " + std::to_string(min) + ".." + std::to_string(max);
}

// Why `v`, the value of integer field `name`, is refused ("" when it is fine):
// not an integer (1.5, 1e12 and "3" are not), or outside [min, max]. The check
// is on the value as a 64-bit integer: an unsigned value past INT64_MAX is out
// of range, never reinterpreted, so a later int conversion cannot wrap.
std::string int_problem(const std::string& name, const json& v, int64_t min, int64_t max) {
  const std::string shown = name + "=" + utf8_prefix(v.dump(), 64);
  if (!v.is_number_integer()) return shown + " must be " + range_text(min, max);
  const bool too_big = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(kInt64Max);
  if (too_big || v.get<int64_t>() < min || v.get<int64_t>() > max) {
    return shown + " out of range; " + range_text(min, max);
  }
  return "";
}

// Whether `s` is well-formed UTF-8 (no overlongs, surrogates or values past
// U+10FFFF). JSON text is checked by the parser; CBOR text strings must be
// UTF-8 too (RFC 8949, 3.1) but nlohmann's from_cbor does not check, and a
// string that is not would make every later dump() of it throw.
bool utf8_valid(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int extra = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

// Checks sizes of every string and array anywhere in `j` (nested config
// objects too), and that every string and key is UTF-8.
bool within_limits(const json& j, int depth, std::string& why, ErrorCode& code) {
  code = ErrorCode::TooLarge;
  if (depth > 16) {
    why = "nesting deeper than 16 levels";
    return false;
  }
  if (j.is_string() && j.get_ref<const std::string&>().size() > kMaxStringBytes) {
    why = "a string longer than " + std::to_string(kMaxStringBytes) + " bytes";
    return false;
  }
  if (j.is_string() && !utf8_valid(j.get_ref<const std::string&>())) {
    why = "a string that is not valid UTF-8";
    code = ErrorCode::BadJson;
    return false;
  }
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      if (!utf8_valid(key)) {
        why = "an object key that is not valid UTF-8";
        code = ErrorCode::BadJson;
        return false;
      }
      if (key.size() > kMaxStringBytes) {
        why = "an object key longer than " + std::to_string(kMaxStringBytes) + " bytes";
        return false;
      }
    }
  }
  if (j.is_binary()) {
    why = "a binary value (not allowed in requests)";
    return false;
  }
  if (j.is_array() || j.is_object()) {
    if (j.size() > kMaxArrayItems) {
      why = "an array or object with more than " + std::to_string(kMaxArrayItems) + " items";
      return false;
    }
    for (const auto& item : j) {
      if (!within_limits(item, depth + 1, why, code)) return false;
    }
  }
  return true;
}

bool field_matches(const json& v, Kind k) {
  switch (k) {
    case Kind::String:
      return v.is_string();
    case Kind::Int:
      return v.is_number_integer();  // the range: int_problem
    case Kind::Object:
      return v.is_object();
    case Kind::StringArray:
      if (!v.is_array()) return false;
      for (const auto& s : v)
        if (!s.is_string()) return false;
      return true;
    case Kind::ObjectArray:
      if (!v.is_array()) return false;
      for (const auto& s : v)
        if (!s.is_object()) return false;
      return true;
  }
  return false;
}

// One plan entry: {"op":"skip","position":p} | {"op":"swap","i":a,"j":b} |
// {"op":"linear","position":p} (the least-squares fit of that block).
bool plan_entry_valid(const json& e, size_t index, std::string& why) {
  const std::string at = "body.plan[" + std::to_string(index) + "]";
  const auto op = e.find("op");
  if (op == e.end() || !op->is_string()) {
    why = at + ".op missing; one of skip, swap, linear";
    return false;
  }
  const std::string name = op->get<std::string>();
  std::vector<const char*> ints;
  if (name == "skip" || name == "linear") {
    ints = {"position"};
  } else if (name == "swap") {
    ints = {"i", "j"};
  } else {
    why = at + ".op=\"" + name + "\" unknown; one of skip, swap, linear";
    return false;
  }
  for (const char* key : ints) {
    const auto v = e.find(key);
    if (v == e.end()) {
      why = at + "." + key + " is required (a layer position, a non-negative integer)";
      return false;
    }
    why = int_problem(at + "." + key, *v, 0, kInt64Max);
    if (!why.empty()) return false;
  }
  return true;
}

DecodeResult fail(ErrorCode code, std::string why) {
  DecodeResult r;
  r.code = code;
  r.error = std::move(why);
  return r;
}

}  // namespace

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::BadJson:
      return "bad_json";
    case ErrorCode::BadEnvelope:
      return "bad_envelope";
    case ErrorCode::UnsupportedVersion:
      return "unsupported_version";
    case ErrorCode::UnknownType:
      return "unknown_type";
    case ErrorCode::BadField:
      return "bad_field";
    case ErrorCode::TooLarge:
      return "too_large";
    case ErrorCode::AuthRequired:
      return "auth_required";
    case ErrorCode::AuthFailed:
      return "auth_failed";
    case ErrorCode::RateLimited:
      return "rate_limited";
    case ErrorCode::Busy:
      return "busy";
    case ErrorCode::TooSlow:
      return "too_slow";
    case ErrorCode::NotFound:
      return "not_found";
    case ErrorCode::InvalidConfig:
      return "invalid_config";
    case ErrorCode::Conflict:
      return "conflict";
    case ErrorCode::Internal:
      return "internal";
  }
  return "internal";
}

const std::vector<std::string>& client_types() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& [name, spec] : type_specs()) v.push_back(name);
    return v;
  }();
  return names;
}

DecodeResult decode(const std::string& bytes, bool binary) {
  if (bytes.size() > kMaxMessageBytes) {
    return fail(ErrorCode::TooLarge, "message of " + std::to_string(bytes.size()) +
                                         " bytes; at most " + std::to_string(kMaxMessageBytes));
  }
  json j;
  try {
    // allow_exceptions=false is not enough: from_cbor still throws for a
    // declared array/string size past max_size() (found by the fuzzer, corpus
    // file cbor-huge-array-size), and an exception here would end the server.
    j = binary ? json::from_cbor(bytes, /*strict=*/true, /*allow_exceptions=*/false)
               : json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  } catch (const json::exception&) {
    j = json(json::value_t::discarded);
  }
  if (j.is_discarded()) {
    return fail(ErrorCode::BadJson, binary ? "not a valid CBOR item" : "not valid JSON text");
  }
  if (!j.is_object()) return fail(ErrorCode::BadEnvelope, "the message must be an object");
  std::string why;
  ErrorCode limit_code = ErrorCode::TooLarge;
  if (!within_limits(j, 0, why, limit_code)) return fail(limit_code, "the message holds " + why);
  for (const auto& [key, value] : j.items()) {
    if (key != "v" && key != "type" && key != "id" && key != "run" && key != "seq" &&
        key != "body") {
      return fail(ErrorCode::BadEnvelope,
                  "unknown envelope key \"" + key + "\"; allowed: v, type, id, run, seq, body");
    }
  }
  const auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer()) {
    return fail(ErrorCode::BadEnvelope, "\"v\" (protocol version, an integer) is missing");
  }
  if (v->get<int64_t>() != kVersion) {
    return fail(
        ErrorCode::UnsupportedVersion,
        "v=" + v->dump() + " unsupported; this server speaks v=" + std::to_string(kVersion));
  }
  const auto type = j.find("type");
  if (type == j.end() || !type->is_string()) {
    return fail(ErrorCode::BadEnvelope, "\"type\" (a string) is missing");
  }
  DecodeResult r;
  Message& m = r.message;
  m.type = type->get<std::string>();
  const auto spec = type_specs().find(m.type);
  if (spec == type_specs().end()) {
    std::string names;
    for (const std::string& n : client_types()) names += (names.empty() ? "" : ", ") + n;
    return fail(ErrorCode::UnknownType, "type \"" + m.type + "\" unknown; one of " + names);
  }
  // From here on a refusal carries the request's id, so that the client can
  // match the error to its request.
  auto fail_with_id = [&r](ErrorCode code, std::string why) {
    r.code = code;
    r.error = std::move(why);
    return r;
  };
  if (const auto id = j.find("id"); id != j.end()) {
    why = int_problem("\"id\"", *id, 0, kInt64Max);
    if (!why.empty()) return fail(ErrorCode::BadEnvelope, why);
    m.id = id->get<int64_t>();
  }
  if (const auto seq = j.find("seq"); seq != j.end()) {
    why = int_problem("\"seq\"", *seq, 0, kInt64Max);
    if (!why.empty()) return fail_with_id(ErrorCode::BadEnvelope, why);
    m.seq = seq->get<int64_t>();
  }
  if (const auto run = j.find("run"); run != j.end()) {
    if (!run->is_string() || run->get_ref<const std::string&>().empty()) {
      return fail_with_id(ErrorCode::BadEnvelope,
                          "\"run\" must be a non-empty string (a run name)");
    }
    m.run = run->get<std::string>();
  }
  if (spec->second.needs_run && m.run.empty()) {
    return fail_with_id(ErrorCode::BadEnvelope,
                        "type \"" + m.type + "\" needs \"run\" (a run name)");
  }
  if (const auto body = j.find("body"); body != j.end()) {
    if (!body->is_object())
      return fail_with_id(ErrorCode::BadEnvelope, "\"body\" must be an object");
    m.body = std::move(*body);
  }
  for (const auto& [key, value] : m.body.items()) {
    bool known = false;
    for (const Field& f : spec->second.fields) known = known || key == f.name;
    if (!known) {
      return fail_with_id(ErrorCode::BadField,
                          "body." + key + " is not a field of \"" + m.type + "\"");
    }
  }
  for (const Field& f : spec->second.fields) {
    const auto value = m.body.find(f.name);
    if (value == m.body.end()) {
      if (f.required) {
        return fail_with_id(ErrorCode::BadField, std::string("body.") + f.name + " is required (" +
                                                     kind_name(f.kind) + ")");
      }
      continue;
    }
    if (f.kind == Kind::Int) {
      why = int_problem(std::string("body.") + f.name, *value, f.min, f.max);
      if (!why.empty()) return fail_with_id(ErrorCode::BadField, why);
    } else if (!field_matches(*value, f.kind)) {
      return fail_with_id(ErrorCode::BadField, std::string("body.") + f.name + "=" +
                                                   utf8_prefix(value->dump(), 64) + " must be " +
                                                   kind_name(f.kind));
    }
  }
  if (m.type == type::kEvaluate) {
    const json& plan = m.body["plan"];
    for (size_t i = 0; i < plan.size(); ++i) {
      if (!plan_entry_valid(plan[i], i, why)) return fail_with_id(ErrorCode::BadField, why);
    }
  }
  if ((m.type == type::kStart || m.type == type::kSweep) &&
      m.body.contains("config") == m.body.contains("preset")) {
    return fail_with_id(ErrorCode::BadField,
                        "give exactly one of body.config (object) or body.preset");
  }
  if (m.type == type::kHello && m.body.contains("telemetry")) {
    const std::string t = m.body["telemetry"].get<std::string>();
    if (t != "cbor" && t != "json") {
      return fail_with_id(ErrorCode::BadField,
                          "body.telemetry=\"" + t + "\" unknown; cbor or json");
    }
  }
  r.ok = true;
  return r;
}

nlohmann::json envelope(const Message& m) {
  json j = {{"v", kVersion}, {"type", m.type}};
  if (m.id >= 0) j["id"] = m.id;
  if (!m.run.empty()) j["run"] = m.run;
  if (m.seq >= 0) j["seq"] = m.seq;
  j["body"] = m.body;
  return j;
}

std::string encode_json(const Message& m) { return envelope(m).dump(); }

std::vector<uint8_t> encode_cbor(const Message& m) { return json::to_cbor(envelope(m)); }

Message error_message(ErrorCode code, const std::string& text, int64_t id) {
  Message m;
  m.type = type::kError;
  m.id = id;
  m.body = {{"code", error_code_name(code)}, {"message", text}};
  return m;
}

}  // namespace dlab::protocol
