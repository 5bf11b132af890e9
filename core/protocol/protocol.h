// The session protocol between dlab serve and its clients (the GUI, scripts):
// message types, the envelope and a strict decoder. docs/protocol.md is the
// reference; this header is its executable form. No torch, no Qt: the GUI and
// the fuzzer link it as is.
//
// Every message is one WebSocket message holding one envelope object
//   {"v": 1, "type": "<type>", "id": <int>, "run": "<name>", "seq": <int>, "body": {...}}
// as JSON text (control) or CBOR binary (telemetry; clients may send CBOR too).
// "v" and "type" are required; "id" (client request id, echoed in the reply),
// "run", "seq" and "body" are optional where the type allows.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "protocol/message_types.h"

namespace dlab::protocol {

constexpr size_t kMaxMessageBytes = size_t(1) << 20;  // 1 MiB per incoming message
constexpr size_t kMaxStringBytes = 4096;              // any string field
constexpr size_t kMaxArrayItems = 4096;               // any array field
constexpr int64_t kMaxSamples = 1024;                 // body.samples of evaluate/analyze/jacobian

// Error codes of "error" messages (docs/protocol.md lists what causes each).
enum class ErrorCode {
  BadJson,             // not valid JSON/CBOR
  BadEnvelope,         // not an object, missing/mistyped v/type/id/run/seq/body
  UnsupportedVersion,  // v != 1
  UnknownType,         // type not in the list below
  BadField,            // a body field missing, of the wrong type or out of range
  TooLarge,            // message or a string/array over the limits above
  AuthRequired,        // first message was not hello
  AuthFailed,          // wrong or missing token
  RateLimited,         // too many requests per second
  Busy,                // a server limit is reached (pending analyses, live runs, ranks)
  TooSlow,             // the client did not read its replies (sent before it is dropped)
  NotFound,            // no such run / checkpoint
  InvalidConfig,       // config validation failed ("fields" lists each problem)
  Conflict,            // wrong state (e.g. pause a finished run)
  Internal,            // the engine failed (message says how)
};
const char* error_code_name(ErrorCode code);

struct Message {
  std::string type;
  int64_t id = -1;  // -1: none
  std::string run;  // "" : none
  int64_t seq = -1;
  nlohmann::json body = nlohmann::json::object();
};

struct DecodeResult {
  bool ok = false;
  Message message;
  ErrorCode code = ErrorCode::BadJson;
  std::string error;  // what is wrong, naming the field
};

// Decodes and validates one incoming client message (binary = CBOR, else JSON
// text): envelope, the type's body fields and their types, sizes. Never throws.
DecodeResult decode(const std::string& bytes, bool binary);

// The envelope as JSON, for encoding (server messages are not validated).
nlohmann::json envelope(const Message& m);
std::string encode_json(const Message& m);
std::vector<uint8_t> encode_cbor(const Message& m);

// An "error" message replying to request `id` (-1 when it had none).
Message error_message(ErrorCode code, const std::string& text, int64_t id = -1);

// The client request types the decoder accepts.
const std::vector<std::string>& client_types();

}  // namespace dlab::protocol
