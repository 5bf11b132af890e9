// docs/config.md must say what the code does: its table of keys and its table
// of validation messages are generated here and must appear in it verbatim.
// When one of these tests fails, it prints the table to paste into the docs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "common/config_io.h"
#include "common/config_schema.h"
#include "common/config_validate.h"
#include "common/error.h"
#include "validation_cases.h"

namespace dlab {
namespace {

std::string read_docs() {
  const std::filesystem::path path =
      std::filesystem::path(DEPTHLAB_SOURCE_DIR) / "docs" / "config.md";
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string type_name(const ConfigField& f) {
  switch (f.type) {
    case ConfigField::Type::Int:
      return "integer";
    case ConfigField::Type::Float:
      return "number";
    case ConfigField::Type::String:
      return "string";
    case ConfigField::Type::Choice:
      return "choice";
    case ConfigField::Type::Bool:
      return "boolean";
  }
  return "";
}

std::string key_table() {
  std::string out = "| key | type | default | meaning |\n|---|---|---|---|\n";
  for (const ConfigField& f : config_schema()) {
    const bool quoted = f.type == ConfigField::Type::String || f.type == ConfigField::Type::Choice;
    const std::string value = quoted ? "\"" + f.default_value + "\"" : f.default_value;
    out += "| `" + f.key + "` | " + type_name(f) + " | `" + value + "` | " + f.doc + " |\n";
  }
  return out;
}

std::string message_table() {
  std::string out = "| `--set` on the valid base | message |\n|---|---|\n";
  for (const auto& c : testing::validation_cases()) {
    std::string input;
    for (const std::string& s : c.sets) {
      input += (input.empty() ? "`" : " `") + printable_text(s) + "`";
    }
    out += "| " + input + " | `" + c.message + "` |\n";
  }
  return out;
}

TEST(Docs, ConfigMdListsEveryKey) {
  const std::string docs = read_docs();
  ASSERT_FALSE(docs.empty()) << "docs/config.md is missing";
  EXPECT_NE(docs.find(key_table()), std::string::npos)
      << "docs/config.md lacks the key table; it should contain:\n\n"
      << key_table();
}

TEST(Docs, ConfigMdListsEveryValidationMessage) {
  const std::string docs = read_docs();
  EXPECT_NE(docs.find(message_table()), std::string::npos)
      << "docs/config.md lacks the validation table; it should contain:\n\n"
      << message_table();
}

// The messages of reading configs (as opposed to validating them), each with
// an input that causes it. Checked against the code here, and the docs must
// quote each message.
struct InputCase {
  std::function<void()> run;
  std::string message;
};

std::vector<InputCase> input_cases() {
  Config c;
  return {
      {[] { config_from_toml("[model]\nn_layer = 4\n", "demo.toml"); },
       "unknown key 'model.n_layer' in demo.toml:2:1; did you mean 'model.n_layers'?"},
      {[] { config_from_toml("[model]\nlr = 0.1\n", "demo.toml"); },
       "unknown key 'model.lr' in demo.toml:2:1; did you mean 'train.lr'?"},
      {[] { config_from_toml("[run]\ncolour = \"red\"\n", "demo.toml"); },
       "unknown key 'run.colour' in demo.toml:2:1; the keys of [run] are name, dir, device"},
      {[] { config_from_toml("[optimizer]\nlr = 0.1\n", "demo.toml"); },
       "unknown key 'optimizer' in demo.toml:1:2; the sections are [run], [model], [model.moe], "
       "[data], [train]"},
      {[] { config_from_toml("[model]\nn_layers = \"four\"\n", "demo.toml"); },
       "demo.toml:2:1: model.n_layers must be an integer, got the string \"four\""},
      {[] { config_from_toml("[train]\nlr = \"3e-4\"\n", "demo.toml"); },
       "demo.toml:2:1: train.lr must be a number, got the string \"3e-4\""},
      {[] { config_from_toml("[model]\ninit = true\n", "demo.toml"); },
       "demo.toml:2:1: model.init must be one of normal, scaled, got true"},
      {[] { config_from_toml("model = 3\n", "demo.toml"); },
       "demo.toml:1:1: 'model' must be the section [model], got the integer 3"},
      {[] { config_from_toml("[model]\nn_layers = 3000000000\n", "demo.toml"); },
       "demo.toml:2:1: model.n_layers=3000000000 is out of range; use -2147483648 to 2147483647"},
      {[] { config_from_toml("[model]\nd_model = = 5\n", "demo.toml"); },
       "demo.toml:2:11: TOML syntax error: Error while parsing value: could not determine value "
       "type"},
      {[c]() mutable { config_set(c, "model.n_layer=4"); },
       "unknown key 'model.n_layer' in --set model.n_layer=4; did you mean 'model.n_layers'?"},
      {[c]() mutable { config_set(c, "train.lr"); },
       "--set expects key=value (e.g. train.lr=1e-3), got 'train.lr'"},
      {[c]() mutable { config_set(c, "model.n_heads=abc"); },
       "model.n_heads=abc is not an integer"},
      {[c]() mutable { config_set(c, "train.lr=fast"); }, "train.lr=fast is not a number"},
      {[c]() mutable { config_set(c, "train.seed=-1"); },
       "train.seed=-1 is out of range; use 0 to 9223372036854775807"},
      {[c]() mutable { config_set(c, "model=4"); },
       "'model' in --set model=4 is a section; name one of its keys, e.g. model.n_layers"},
      {[c] { config_expand_sweep(c, "model.n_layers"); },
       "--sweep expects key=value1,value2,... (e.g. model.n_layers=4,8,16), got 'model.n_layers'"},
      {[c] { config_expand_sweep(c, "model.n_layers=4,,8"); },
       "--sweep model.n_layers=4,,8 has an empty value; separate the values by single commas"},
      {[c] { config_expand_sweep(c, "model.n_layers=4,8,4"); },
       "--sweep model.n_layers=4,8,4 lists 4 twice; each value names a run, so the values must "
       "differ"},
      {[c] { config_expand_sweep(c, "run.name=a,b"); },
       "--sweep run.name=a,b: run.name cannot be swept; a sweep names its runs "
       "<run.name>-<key><value>"},
      {[] { config_from_json(R"({"model":{"n_layers":"4"}})", "run.h5"); },
       "run.h5: model.n_layers must be an integer, got \"4\""},
  };
}

TEST(Docs, InputMessagesAreExactAndDocumented) {
  const std::string docs = read_docs();
  for (const InputCase& c : input_cases()) {
    std::string message = "(no error)";
    try {
      c.run();
    } catch (const Error& e) {
      message = e.what();
    }
    EXPECT_EQ(message, c.message);
    EXPECT_NE(docs.find("`" + c.message + "`"), std::string::npos)
        << "docs/config.md does not quote: `" << c.message << "`";
  }
}

// Every ```toml block of the docs is a config that loads and validates.
TEST(Docs, TomlExamplesLoadAndValidate) {
  const std::string docs = read_docs();
  int blocks = 0;
  for (size_t at = docs.find("```toml\n"); at != std::string::npos;
       at = docs.find("```toml\n", at + 1)) {
    const size_t begin = at + 8;
    const size_t end = docs.find("```", begin);
    ASSERT_NE(end, std::string::npos);
    const Config c = config_from_toml(docs.substr(begin, end - begin), "docs/config.md block");
    EXPECT_EQ(config_validate(c), std::vector<std::string>{}) << "block " << blocks;
    ++blocks;
  }
  EXPECT_GE(blocks, 1);
}

}  // namespace
}  // namespace dlab
