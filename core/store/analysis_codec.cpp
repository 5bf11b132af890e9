#include "store/analysis_codec.h"

#include <nlohmann/json.hpp>

#include "common/config_json.h"
#include "common/error.h"

namespace dlab {
namespace {

using nlohmann::json;

constexpr size_t kMaxJsonBytes = size_t(64) << 20;
const char* const kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const std::vector<uint8_t>& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    const uint32_t n = uint32_t(in[i]) << 16 | (i + 1 < in.size() ? uint32_t(in[i + 1]) << 8 : 0) |
                       (i + 2 < in.size() ? uint32_t(in[i + 2]) : 0);
    out += kBase64[(n >> 18) & 63];
    out += kBase64[(n >> 12) & 63];
    out += i + 1 < in.size() ? kBase64[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kBase64[n & 63] : '=';
  }
  return out;
}

std::vector<uint8_t> base64_decode(const std::string& in, const std::string& where) {
  if (in.size() % 4 != 0)
    throw Error(where + ": base64 length " + std::to_string(in.size()) + " is not a multiple of 4");
  std::vector<uint8_t> out;
  out.reserve(in.size() / 4 * 3);
  auto value = [&](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    throw Error(where + ": '" + std::string(1, c) + "' is not a base64 character");
  };
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const int pad = last ? (in[i + 3] == '=') + (in[i + 2] == '=') : 0;
    if (pad == 1 && in[i + 2] == '=') throw Error(where + ": misplaced base64 padding");
    const uint32_t n = uint32_t(value(in[i])) << 18 | uint32_t(value(in[i + 1])) << 12 |
                       (pad >= 2 ? 0 : uint32_t(value(in[i + 2])) << 6) |
                       (pad >= 1 ? 0 : uint32_t(value(in[i + 3])));
    out.push_back(uint8_t(n >> 16));
    if (pad < 2) out.push_back(uint8_t(n >> 8));
    if (pad < 1) out.push_back(uint8_t(n));
  }
  return out;
}

const char* dtype_text(DType d) { return dtype_name(d); }

DType dtype_parse(const std::string& s, const std::string& where) {
  for (DType d : {DType::F32, DType::F64, DType::I64, DType::U8}) {
    if (s == dtype_name(d)) return d;
  }
  throw Error(where + ": dtype \"" + s + "\" unknown; float32, float64, int64 or uint8");
}

template <typename T>
T field(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw Error(where + " lacks \"" + key + "\"");
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw Error(where + ": \"" + key + "\" has the wrong type");
  }
}

}  // namespace

std::string analysis_file_to_json(const AnalysisFileData& data) {
  json arrays = json::array();
  for (const Array& a : data.arrays) {
    arrays.push_back({{"name", a.name},
                      {"dtype", dtype_text(a.dtype)},
                      {"shape", a.shape},
                      {"data", base64_encode(a.bytes)}});
  }
  return json{{"step", data.step}, {"checkpoint", data.checkpoint}, {"texts", data.texts},
              {"ints", data.ints}, {"reals", data.reals},           {"arrays", arrays}}
      .dump();
}

AnalysisFileData analysis_file_from_json(const std::string& text) {
  const std::string where = "analysis JSON";
  // Size and nesting first: a deep nest would exhaust the parser's stack.
  json_text_check(text, where, kMaxJsonBytes, /*max_depth=*/8);
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) throw Error(where + ": not a JSON object");
  AnalysisFileData d;
  d.step = field<int64_t>(j, "step", where);
  d.checkpoint = field<std::string>(j, "checkpoint", where);
  d.texts = field<std::map<std::string, std::string>>(j, "texts", where);
  d.ints = field<std::map<std::string, int64_t>>(j, "ints", where);
  d.reals = field<std::map<std::string, double>>(j, "reals", where);
  const json arrays = field<json>(j, "arrays", where);
  if (!arrays.is_array()) throw Error(where + ": \"arrays\" is not a list");
  for (size_t i = 0; i < arrays.size(); ++i) {
    const std::string at = where + " arrays[" + std::to_string(i) + "]";
    const json& e = arrays[i];
    if (!e.is_object()) throw Error(at + ": not an object");
    Array a;
    a.name = field<std::string>(e, "name", at);
    size_t pos = 0;
    for (;;) {  // the file's rule: no empty, "." or ".." parts
      const size_t slash = a.name.find('/', pos);
      const std::string part = a.name.substr(pos, slash == std::string::npos ? slash : slash - pos);
      if (part.empty() || part == "." || part == "..") {
        throw Error(at + ": name \"" + a.name + "\" has an empty, '.' or '..' part");
      }
      if (slash == std::string::npos) break;
      pos = slash + 1;
    }
    a.dtype = dtype_parse(field<std::string>(e, "dtype", at), at);
    a.shape = field<std::vector<int64_t>>(e, "shape", at);
    a.bytes = base64_decode(field<std::string>(e, "data", at), at);
    // numel() refuses negative or overflowing shapes.
    const int64_t n = a.numel();
    if (uint64_t(n) > a.bytes.size() || uint64_t(n) * dtype_size(a.dtype) != a.bytes.size()) {
      throw Error(at + " (" + a.name + "): " + std::to_string(a.bytes.size()) +
                  " bytes of data, its shape and dtype need " +
                  std::to_string(uint64_t(n) * dtype_size(a.dtype)));
    }
    d.arrays.push_back(std::move(a));
  }
  return d;
}

}  // namespace dlab
