// The protocol decoder's documented responses (docs/protocol.md, "Errors"):
// each malformed input gets its error code and a reason naming the problem.
// The same decoder runs in dlab serve; tests/app/dlab/serve checks the wire behaviour.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "protocol/protocol.h"

namespace p = dlab::protocol;
using nlohmann::json;

namespace {

p::DecodeResult text(const std::string& s) { return p::decode(s, /*binary=*/false); }

void expect_error(const p::DecodeResult& r, p::ErrorCode code, const std::string& mentions) {
  EXPECT_FALSE(r.ok);
  EXPECT_STREQ(p::error_code_name(r.code), p::error_code_name(code)) << r.error;
  EXPECT_NE(r.error.find(mentions), std::string::npos) << r.error;
}

}  // namespace

TEST(ProtocolDecode, AcceptsEveryDocumentedRequest) {
  const char* good[] = {
      R"({"v":1,"type":"hello","id":1,"body":{"token":"t","telemetry":"json"}})",
      R"({"v":1,"type":"ping"})",
      R"({"v":1,"type":"server_info","id":0})",
      R"({"v":1,"type":"list_runs"})",
      R"({"v":1,"type":"start","body":{"preset":"tiny","set":["train.steps=5"]}})",
      R"({"v":1,"type":"start","body":{"config":{"model":{"n_layers":2}}}})",
      R"({"v":1,"type":"stop","run":"a"})",
      R"({"v":1,"type":"pause","run":"a"})",
      R"({"v":1,"type":"resume","run":"a"})",
      R"({"v":1,"type":"subscribe","run":"a","body":{"from_seq":3}})",
      R"({"v":1,"type":"unsubscribe","run":"a"})",
      R"({"v":1,"type":"evaluate","run":"a","body":{"plan":[{"op":"skip","position":1},{"op":"swap","i":0,"j":1},{"op":"linear","position":0}]}})",
      R"({"v":1,"type":"analyze","run":"a","body":{"analyses":["causal"],"checkpoint_step":20}})",
      R"({"v":1,"type":"jacobian","run":"a","body":{"position":0,"samples":2}})",
      R"({"v":1,"type":"sweep","body":{"preset":"tiny","sweep":"model.n_layers=2,4","ranks":2}})",
      R"({"v":1,"type":"list_sweeps"})",
      R"({"v":1,"type":"cancel_sweep","body":{"sweep":"sweep-1"}})",
  };
  for (const char* s : good) {
    const p::DecodeResult r = text(s);
    EXPECT_TRUE(r.ok) << s << ": " << r.error;
  }
  const p::DecodeResult r =
      text(R"({"v":1,"type":"subscribe","id":7,"run":"a","body":{"from_seq":3}})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.message.type, "subscribe");
  EXPECT_EQ(r.message.id, 7);
  EXPECT_EQ(r.message.run, "a");
  EXPECT_EQ(r.message.body["from_seq"], 3);
}

TEST(ProtocolDecode, CborCarriesTheSameMessages) {
  const json j = {{"v", 1},
                  {"type", "evaluate"},
                  {"id", 4},
                  {"run", "r"},
                  {"body", {{"plan", json::array({{{"op", "skip"}, {"position", 0}}})}}}};
  const std::vector<uint8_t> bytes = json::to_cbor(j);
  const p::DecodeResult r = p::decode(std::string(bytes.begin(), bytes.end()), /*binary=*/true);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.message.id, 4);
  // JSON text sent as a binary frame is not CBOR.
  expect_error(p::decode(j.dump(), /*binary=*/true), p::ErrorCode::BadJson, "CBOR");
}

TEST(ProtocolDecode, MalformedAndCutInHalf) {
  const std::string whole = R"({"v":1,"type":"subscribe","run":"a","body":{"from_seq":3}})";
  expect_error(text(whole.substr(0, whole.size() / 2)), p::ErrorCode::BadJson, "JSON");
  expect_error(text("{not json"), p::ErrorCode::BadJson, "JSON");
  expect_error(text(""), p::ErrorCode::BadJson, "JSON");
  const std::vector<uint8_t> cbor = json::to_cbor(json::parse(whole));
  expect_error(p::decode(std::string(cbor.begin(), cbor.begin() + long(cbor.size() / 2)), true),
               p::ErrorCode::BadJson, "CBOR");
  // A CBOR header declaring an array of 2^64-ish items (found by the fuzzer).
  expect_error(p::decode(std::string("\x9b\xf1\xff\xff\xff\x00\x00\x00\x7b", 9), true),
               p::ErrorCode::BadJson, "CBOR");
}

TEST(ProtocolDecode, EnvelopeErrors) {
  expect_error(text("[1,2]"), p::ErrorCode::BadEnvelope, "object");
  expect_error(text(R"({"type":"ping"})"), p::ErrorCode::BadEnvelope, "\"v\"");
  expect_error(text(R"({"v":2,"type":"ping"})"), p::ErrorCode::UnsupportedVersion, "v=2");
  expect_error(text(R"({"v":1})"), p::ErrorCode::BadEnvelope, "\"type\"");
  expect_error(text(R"({"v":1,"type":"ping","id":-1})"), p::ErrorCode::BadEnvelope, "\"id\"");
  expect_error(text(R"({"v":1,"type":"ping","id":1.5})"), p::ErrorCode::BadEnvelope, "\"id\"");
  expect_error(text(R"({"v":1,"type":"stop"})"), p::ErrorCode::BadEnvelope, "needs \"run\"");
  expect_error(text(R"({"v":1,"type":"stop","run":""})"), p::ErrorCode::BadEnvelope, "\"run\"");
  expect_error(text(R"({"v":1,"type":"ping","body":[]})"), p::ErrorCode::BadEnvelope, "\"body\"");
  expect_error(text(R"({"v":1,"type":"ping","extra":1})"), p::ErrorCode::BadEnvelope, "extra");
}

TEST(ProtocolDecode, UnknownTypeListsTheKnownOnes) {
  const p::DecodeResult r = text(R"({"v":1,"type":"launch"})");
  expect_error(r, p::ErrorCode::UnknownType, "launch");
  EXPECT_NE(r.error.find("subscribe"), std::string::npos) << r.error;
}

TEST(ProtocolDecode, BodyFieldErrorsNameTheField) {
  expect_error(text(R"({"v":1,"type":"subscribe","run":"a","body":{"from_seq":"x"}})"),
               p::ErrorCode::BadField, "body.from_seq");
  expect_error(text(R"({"v":1,"type":"ping","body":{"x":1}})"), p::ErrorCode::BadField, "body.x");
  expect_error(text(R"({"v":1,"type":"evaluate","run":"a","body":{}})"), p::ErrorCode::BadField,
               "body.plan is required");
  expect_error(text(R"({"v":1,"type":"evaluate","run":"a","body":{"plan":[{"op":"drop"}]}})"),
               p::ErrorCode::BadField, "body.plan[0].op");
  expect_error(text(R"({"v":1,"type":"evaluate","run":"a","body":{"plan":[{"op":"swap","i":0}]}})"),
               p::ErrorCode::BadField, "body.plan[0].j");
  expect_error(text(R"({"v":1,"type":"start","body":{}})"), p::ErrorCode::BadField, "exactly one");
  expect_error(text(R"({"v":1,"type":"sweep","body":{"preset":"tiny"}})"), p::ErrorCode::BadField,
               "body.sweep is required");
  expect_error(text(R"({"v":1,"type":"sweep","body":{"sweep":"model.n_layers=2"}})"),
               p::ErrorCode::BadField, "exactly one");
  expect_error(text(R"({"v":1,"type":"sweep","body":{"preset":"tiny","sweep":["a"]}})"),
               p::ErrorCode::BadField, "body.sweep");
  expect_error(text(R"({"v":1,"type":"cancel_sweep","body":{}})"), p::ErrorCode::BadField,
               "body.sweep is required");
  expect_error(text(R"({"v":1,"type":"hello","body":{"telemetry":"xml"}})"), p::ErrorCode::BadField,
               "telemetry");
}

// Integers are checked as 64-bit values against each field's range before
// anything converts them (issue 13): nothing is truncated or wrapped.
TEST(ProtocolDecode, IntegerFieldsAreRangeCheckedNotTruncated) {
  const std::string jac = R"({"v":1,"type":"jacobian","id":9,"run":"a","body":)";
  expect_error(text(jac + R"({"position":0,"samples":1000000000000}})"), p::ErrorCode::BadField,
               "body.samples=1000000000000 out of range; an integer in 1..1024");
  expect_error(text(jac + R"({"position":0,"samples":0}})"), p::ErrorCode::BadField,
               "body.samples=0 out of range");
  expect_error(text(jac + R"({"position":1.0}})"), p::ErrorCode::BadField,
               "body.position=1.0 must be a non-negative integer");
  expect_error(text(jac + R"({"position":1e12}})"), p::ErrorCode::BadField, "body.position=");
  expect_error(text(jac + R"({"position":"3"}})"), p::ErrorCode::BadField, "body.position=\"3\"");
  expect_error(text(jac + R"({"position":-1}})"), p::ErrorCode::BadField, "body.position=-1");
  expect_error(text(jac + R"({"position":0,"checkpoint_step":18446744073709551615}})"),
               p::ErrorCode::BadField, "body.checkpoint_step=18446744073709551615 out of range");
  expect_error(
      text(
          R"({"v":1,"type":"evaluate","run":"a","body":{"plan":[{"op":"skip","position":4294967296.5}]}})"),
      p::ErrorCode::BadField, "body.plan[0].position=");
  expect_error(
      text(
          R"({"v":1,"type":"evaluate","run":"a","body":{"plan":[{"op":"swap","i":0,"j":18446744073709551615}]}})"),
      p::ErrorCode::BadField, "body.plan[0].j=18446744073709551615 out of range");
  expect_error(text(R"({"v":1,"type":"start","body":{"preset":"tiny","ranks":0}})"),
               p::ErrorCode::BadField, "body.ranks=0 out of range; an integer >= 1");
  expect_error(text(R"({"v":1,"type":"ping","id":18446744073709551615})"),
               p::ErrorCode::BadEnvelope, "\"id\"=18446744073709551615 out of range");
  // Large values inside the range pass as they are (the server checks them
  // against the model, in 64 bits).
  const p::DecodeResult big = text(jac + R"({"position":1099511627776}})");
  ASSERT_TRUE(big.ok) << big.error;
  EXPECT_EQ(big.message.body["position"].get<int64_t>(), int64_t(1) << 40);
  // A refusal after the envelope carries the request's id back.
  EXPECT_EQ(text(jac + R"({"position":0.5}})").message.id, 9);
}

TEST(ProtocolDecode, SizeLimits) {
  const std::string big(p::kMaxMessageBytes + 1, ' ');
  expect_error(text(big), p::ErrorCode::TooLarge, "bytes");
  const std::string long_token(p::kMaxStringBytes + 1, 'x');
  expect_error(text(R"({"v":1,"type":"hello","body":{"token":")" + long_token + "\"}}"),
               p::ErrorCode::TooLarge, "string");
  json many = {{"v", 1}, {"type", "start"}, {"body", {{"preset", "tiny"}}}};
  many["body"]["set"] = json::array();
  for (size_t i = 0; i <= p::kMaxArrayItems; ++i) many["body"]["set"].push_back("a=1");
  expect_error(text(many.dump()), p::ErrorCode::TooLarge, "items");
  std::string deep = R"({"v":1,"type":"start","body":{"config":)";
  for (int i = 0; i < 20; ++i) deep += R"({"a":)";
  deep += "1";
  for (int i = 0; i < 20; ++i) deep += "}";
  deep += "}}";
  expect_error(text(deep), p::ErrorCode::TooLarge, "nesting");
}

TEST(ProtocolDecode, ErrorRepliesAlwaysEncode) {
  // A CBOR string that is not UTF-8 is rejected (and the reason stays encodable).
  const std::string bad_key("\xa3\x61v\x01\x64type\x64ping\x62\xff\xfe\x01", 18);
  const p::DecodeResult r = p::decode(bad_key, /*binary=*/true);
  expect_error(r, p::ErrorCode::BadJson, "UTF-8");
  EXPECT_NO_THROW(p::encode_json(p::error_message(r.code, r.error)));
  // A quoted value cut at 64 bytes inside a 2-byte character.
  const std::string cut = R"({"v":1,"type":"start","body":{"preset":"tiny","set":")" +
                          std::string(62, 'a') + "\xc3\xa9tail\"}}";
  const p::DecodeResult c = text(cut);
  expect_error(c, p::ErrorCode::BadField, "body.set");
  EXPECT_NO_THROW(p::encode_json(p::error_message(c.code, c.error)));
}

TEST(ProtocolEncode, EnvelopeOmitsAbsentFields) {
  p::Message m;
  m.type = "pong";
  const json j = json::parse(p::encode_json(m));
  EXPECT_EQ(j, json::parse(R"({"v":1,"type":"pong","body":{}})"));
  const p::Message e = p::error_message(p::ErrorCode::NotFound, "no run", 3);
  EXPECT_EQ(json::parse(p::encode_json(e))["body"]["code"], "not_found");
  EXPECT_EQ(json::from_cbor(p::encode_cbor(e))["id"], 3);
}

TEST(ProtocolListeningLine, TheUrlIsReadFromThatLineOnly) {
  EXPECT_EQ(p::listening_url("dlab serve: listening on ws://127.0.0.1:40123\n"),
            "ws://127.0.0.1:40123");
  EXPECT_EQ(p::listening_url("  dlab serve: listening on wss://[::1]:8443 \r\n"),
            "wss://[::1]:8443");
  EXPECT_EQ(p::listening_url("dlab serve: run tiny started"), "");
  EXPECT_EQ(p::listening_url("note: dlab serve: listening on ws://x:1"), "");  // not at the start
  EXPECT_EQ(p::listening_url(""), "");
  EXPECT_EQ(p::listening_url(" \n"), "");
}

// The names in message_types.h are the wire's: every request type decodes.
TEST(ProtocolMessageTypes, EveryRequestNameIsAClientType) {
  namespace t = p::type;
  const std::vector<std::string> requests = {
      t::kHello,   t::kPing,     t::kServerInfo, t::kListRuns,   t::kStart,       t::kContinue,
      t::kStop,    t::kPause,    t::kResume,     t::kSubscribe,  t::kUnsubscribe, t::kEvaluate,
      t::kAnalyze, t::kJacobian, t::kSweep,      t::kListSweeps, t::kCancelSweep};
  std::vector<std::string> sorted = requests, known = p::client_types();
  std::sort(sorted.begin(), sorted.end());
  std::sort(known.begin(), known.end());
  EXPECT_EQ(sorted, known);
  EXPECT_STREQ(t::kEvaluation, "evaluation");
  EXPECT_STREQ(t::kContinue, "continue");
  EXPECT_STREQ(t::kSweepState, "sweep_state");
  EXPECT_STREQ(t::kTelemetryDropped, "telemetry_dropped");
}
