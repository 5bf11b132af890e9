// libFuzzer target: config text as DepthLab reads it from files, TOML
// (config_from_toml: config files, presets) and JSON (config_from_json: the
// config attribute of run files and checkpoints, protocol bodies), then
// validation (config_validate). A parsed config must also survive a round
// trip through both writers unchanged. Inputs may be refused with a
// dlab::Error; any other exception, a crash or a sanitizer report is a finding.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/config_io.h"
#include "common/error.h"

namespace {

// A parsed config is written and read back through TOML and JSON: the same.
// (The writers' output must always read back: a refusal here is a finding too.)
void round_trip(const dlab::Config& c) {
  const std::string json = dlab::config_to_json(c);
  const std::string toml = dlab::config_to_toml(c);
  std::string via_toml, via_json;
  try {
    via_toml = dlab::config_to_json(dlab::config_from_toml(toml, "round trip"));
    via_json = dlab::config_to_json(dlab::config_from_json(json, "round trip"));
  } catch (const dlab::Error& e) {
    std::fprintf(stderr, "a written config does not read back: %s\n%s\n%s\n", e.what(),
                 toml.c_str(), json.c_str());
    std::abort();
  }
  if (via_toml != json || via_json != json) {
    std::fprintf(stderr, "round trip changed the config:\n%s\n%s\n%s\n", json.c_str(),
                 via_toml.c_str(), via_json.c_str());
    std::abort();
  }
}

template <typename Parse>
void parse_and_check(Parse parse) {
  try {
    const dlab::Config c = parse();
    (void)dlab::config_validate(c);
    round_trip(c);
  } catch (const dlab::Error&) {
    // Refused with a message: expected for most inputs.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  parse_and_check([&] { return dlab::config_from_toml(text, "fuzz.toml"); });
  parse_and_check([&] { return dlab::config_from_json(text, "fuzz.json"); });
  return 0;
}
