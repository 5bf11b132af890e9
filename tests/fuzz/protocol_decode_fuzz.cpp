// libFuzzer target for the session protocol's decoder (core/protocol). Every
// input is decoded twice, as JSON text and as CBOR, exactly as dlab serve does
// with an incoming WebSocket message, and the server's follow-up steps are
// checked as properties, not just "does not crash":
//   - decode() never throws (it is called outside any try in the server);
//   - a rejected message yields an error code and a non-empty reason, and the
//     "error" reply built from them encodes (JSON and CBOR) without throwing,
//     because the server sends it back verbatim;
//   - an accepted message re-encodes, decodes again to the same envelope
//     (type, id, run, seq, body) and is stable under a second round trip.
// Built with clang -fsanitize=fuzzer,address (tests/fuzz/CMakeLists.txt); the
// standing corpus is tests/fuzz/corpus/protocol_decode/.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "protocol/protocol.h"

namespace {

namespace p = dlab::protocol;

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "protocol_decode_fuzz: %s: %s\n", what, detail.substr(0, 200).c_str());
  std::abort();
}

void check_error_reply(const p::DecodeResult& r) {
  if (r.error.empty()) fail("rejected without a reason", p::error_code_name(r.code));
  const p::Message reply = p::error_message(r.code, r.error, /*id=*/-1);
  try {
    (void)p::encode_json(reply);
    (void)p::encode_cbor(reply);
  } catch (const std::exception& e) {
    fail("the error reply does not encode", e.what());
  }
}

void check_round_trip(const p::Message& m, bool binary) {
  // CBOR keeps every value (NaN, binary-safe strings); JSON text is checked
  // only for messages that came in as JSON.
  std::string again;
  try {
    if (binary) {
      const std::vector<uint8_t> bytes = p::encode_cbor(m);
      again.assign(bytes.begin(), bytes.end());
    } else {
      again = p::encode_json(m);
    }
  } catch (const std::exception& e) {
    fail("an accepted message does not re-encode", e.what());
  }
  const p::DecodeResult r2 = p::decode(again, binary);
  if (!r2.ok) fail("an accepted message is rejected after re-encoding", r2.error);
  const p::Message& m2 = r2.message;
  if (m2.type != m.type || m2.id != m.id || m2.run != m.run || m2.seq != m.seq) {
    fail("the envelope changed in a round trip", m.type + " -> " + m2.type);
  }
  // Compare bodies through their CBOR bytes: NaN != NaN as JSON values.
  if (p::encode_cbor(m2) != p::encode_cbor(m)) fail("the body changed in a round trip", m.type);
}

void decode_one(const std::string& bytes, bool binary) {
  p::DecodeResult r;
  try {
    r = p::decode(bytes, binary);
  } catch (const std::exception& e) {
    fail("decode() threw", e.what());
  }
  if (r.ok) {
    check_round_trip(r.message, binary);
  } else {
    check_error_reply(r);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  decode_one(bytes, /*binary=*/false);
  decode_one(bytes, /*binary=*/true);
  return 0;
}
